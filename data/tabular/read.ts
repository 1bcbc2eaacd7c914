// Reading a tabular dataset's raw table from its verified cache folder, one function per format the datasets use.
import { join } from 'node:path';
import { readCached } from '../cache.js';
import { DatasetError } from '../errors.js';
import { parseArff } from '../formats/arff.js';
import { dataFrameTable } from '../formats/r-frame.js';
import { readLazyLoad } from '../formats/r-lazyload.js';
import { readRda } from '../formats/r-serialize.js';
import type { Table } from '../formats/table.js';

export interface ReadTable {
  table: Table;
  /** The path the table came from, for messages. */
  file: string;
}

/** The data frame `object` saved in the .rda file `name`. */
export function rdaTable(dir: string, name: string, object: string, dataset: string): ReadTable {
  const file = join(dir, name);
  const objects = readRda(readCached(dir, name, dataset), file);
  const v = objects.get(object);
  if (!v) throw new DatasetError(`${file}: no object '${object}'; it holds ${[...objects.keys()].join(', ')}`);
  return { table: dataFrameTable(v, `${file} (${object})`), file };
}

/** The data frame `object` of a package's lazy-load database (Rdata.rdx + Rdata.rdb). */
export function lazyLoadTable(dir: string, object: string, dataset: string): ReadTable {
  const file = join(dir, 'Rdata.rdb');
  const v = readLazyLoad(
    {
      rdx: readCached(dir, 'Rdata.rdx', dataset),
      rdb: readCached(dir, 'Rdata.rdb', dataset),
      rdxName: join(dir, 'Rdata.rdx'),
      rdbName: file,
    },
    object,
  );
  return { table: dataFrameTable(v, `${file} (${object})`), file };
}

/** The ARFF file `name`. */
export function arffTable(dir: string, name: string, dataset: string): ReadTable {
  const file = join(dir, name);
  return { table: parseArff(new TextDecoder().decode(readCached(dir, name, dataset)), file), file };
}
