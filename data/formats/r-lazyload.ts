// R's lazy-load database (the data/Rdata.rdb + Rdata.rdx of a package installed with LazyData; R's
// makeLazyLoadDB and lazyLoadDBfetch). The .rdx is a gzip- or zlib-compressed serialization of
// list(variables = named list of c(offset, length), references = ..., compressed = 1, 2 or 3). Each object in the
// .rdb is a 4-byte big-endian decompressed length, then with compressed = 1 a zlib stream, with 2 or 3 a type
// byte first: 'Z' raw LZMA2, '2' bzip2, '1' zlib, '0' stored; the decompressed bytes are a serialization stream.
import { DatasetError } from '../errors.js';
import { bunzip2, inflate, rawLzma2 } from './compression.js';
import { unserialize, type RValue } from './r-serialize.js';

export interface LazyLoadFiles {
  rdx: Uint8Array;
  rdb: Uint8Array;
  /** The files' paths or names, for messages. */
  rdxName: string;
  rdbName: string;
}

/** The named elements of an R list (names taken from its 'names' attribute). */
function namedElements(v: RValue, what: string, file: string): Map<string, RValue> {
  const names = v.type === 'list' ? v.attributes.get('names') : undefined;
  if (v.type !== 'list' || names?.type !== 'character' || names.data.length !== v.data.length) {
    throw new DatasetError(`${file}: ${what} is not a named list; not a lazy-load index`);
  }
  return new Map(v.data.map((d, i) => [names.data[i] ?? '', d]));
}

/** The index: where each object lies in the .rdb, and how the objects are compressed. */
function readIndex(f: LazyLoadFiles): { variables: Map<string, RValue>; compressed: number } {
  const index = namedElements(unserialize(inflate(f.rdx, f.rdxName), f.rdxName), 'the index', f.rdxName);
  const variables = index.get('variables');
  const c = index.get('compressed');
  if (!variables || !c)
    throw new DatasetError(`${f.rdxName}: the index lacks 'variables' or 'compressed'; not a lazy-load index`);
  const compressed = c.type === 'logical' || c.type === 'integer' || c.type === 'double' ? c.data[0] : NaN;
  if (![1, 2, 3].includes(compressed))
    throw new DatasetError(
      `${f.rdxName}: compression ${compressed} is not one of R's lazy-load kinds (1 zlib, 2 bzip2, 3 xz)`,
    );
  return { variables: namedElements(variables, "'variables'", f.rdxName), compressed };
}

/** The names of the objects in the database. */
export const lazyLoadNames = (f: LazyLoadFiles): string[] => [...readIndex(f).variables.keys()];

/** Reads one object of the database by name. */
export function readLazyLoad(f: LazyLoadFiles, name: string): RValue {
  const { variables, compressed } = readIndex(f);
  const key = variables.get(name);
  if (!key)
    throw new DatasetError(
      `${f.rdxName}: no object '${name}' in this lazy-load database; it holds ${[...variables.keys()].join(', ')}`,
    );
  if ((key.type !== 'integer' && key.type !== 'double') || key.data.length !== 2) {
    throw new DatasetError(`${f.rdxName}: the entry of '${name}' is not c(offset, length)`);
  }
  const [offset, length] = key.data;
  if (!(offset >= 0 && length >= 5 && offset + length <= f.rdb.length)) {
    throw new DatasetError(
      `${f.rdbName}: '${name}' should lie at bytes ${offset}..${offset + length} but the file has ${f.rdb.length} bytes`,
    );
  }
  const record = f.rdb.subarray(offset, offset + length);
  const size = new DataView(record.buffer, record.byteOffset, 4).getUint32(0, false);
  const where = `${f.rdbName} ('${name}')`;
  let body: Uint8Array;
  if (compressed === 1) body = inflate(record.subarray(4), where);
  else {
    const type = String.fromCharCode(record[4]);
    const data = record.subarray(5);
    if (type === 'Z') body = rawLzma2(data, where);
    else if (type === '2') body = bunzip2(data, where, size);
    else if (type === '1') body = inflate(data, where);
    else if (type === '0') body = data;
    else
      throw new DatasetError(
        `${where}: unknown compression type byte ${JSON.stringify(type)} (expected 'Z', '2', '1' or '0')`,
      );
  }
  if (body.length !== size)
    throw new DatasetError(`${where}: decompressed to ${body.length} bytes, the record says ${size}`);
  return unserialize(body, where);
}
