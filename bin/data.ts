// `advfree data`: lists the registered datasets (rows, shape, classes, source, cached or not), or fetches one into
// the cache folder once, verifies it and prints where it is; with --export, also writes what a model sees.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  DATASETS,
  DATASET_NAMES,
  defaultDataDir,
  ensureDataset,
  findDataset,
  type DatasetDescriptor,
  type RemoteSource,
} from '../data/index.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { encodeSafetensors } from '../nn/safetensors.js';
import { command, oneOf, type FlagSet } from './args.js';
import { exportTensors } from './data-export.js';
import { checkOutputFile } from './files.js';

const sourceText = (r: RemoteSource): string =>
  r.kind === 'url' ? r.url : r.kind === 'npm' ? `npm ${r.package}` : `Debian ${r.package} ${r.version}`;

/** Whether every file of the dataset is in the cache (present; `advfree data NAME` verifies them). */
function cachedText(d: DatasetDescriptor, dataDir: string): string {
  if (!d.cache) return 'generated';
  const dir = join(dataDir, d.cache.folder);
  const have = d.cache.files.filter((f) => existsSync(join(dir, f.name))).length;
  return have === d.cache.files.length ? 'cached' : have ? `${have} of ${d.cache.files.length} files` : 'not fetched';
}

function list(dataDir: string): void {
  const rows = DATASETS.map((d) => [
    d.name,
    `${d.rows.train} / ${d.rows.test}`,
    `[${d.shape.join(', ')}]`,
    String(d.classes.length),
    `${d.threat.norm} ${+d.threat.eps.toFixed(4)}`,
    d.model,
    d.cache ? d.cache.remote.map(sourceText).join(', ') : '-',
    cachedText(d, dataDir),
  ]);
  const head = ['dataset', 'train / test', 'sample', 'classes', 'threat', 'model', 'source', 'in ' + dataDir];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
}

export const data = command({
  name: 'data',
  summary: 'list the datasets, or download and verify one into the data folder',
  positional: 'dataset',
  flags: {
    dataset: {
      type: 'string',
      help: `dataset to fetch: ${DATASET_NAMES.join(', ')} (none: list them)`,
      parse: oneOf('dataset', DATASET_NAMES),
    },
    'data-dir': { type: 'string', help: 'cache folder (env ADVFREE_DATA; default ~/.cache/advfree)' },
    source: {
      type: 'string',
      help: "a local folder, archive (.tar.gz, .tgz, .deb) or file holding the dataset's files",
    },
    offline: { type: 'boolean', help: 'use only --source and the cache, never the network' },
    export: {
      type: 'string',
      help: 'write the preprocessed splits, labels and threat box to this .safetensors file (train.x, train.y, test.x, test.y, lower, upper, mutable)',
    },
    force: { type: 'boolean', help: 'let --export replace an existing file (never a cached input)' },
  } satisfies FlagSet,
  async run(flags) {
    const dataDir = flags['data-dir'] ?? defaultDataDir();
    if (flags.dataset === undefined) {
      list(dataDir);
      return 0;
    }
    const d = findDataset(flags.dataset);
    const out = flags.export;
    const cachedFiles = d.cache ? d.cache.files.map((f) => join(dataDir, d.cache!.folder, f.name)) : [];
    if (out) checkOutputFile('data', '--export', out, { inputs: cachedFiles, force: !!flags.force });
    let dir = '';
    if (!d.cache) console.log(`${d.name}: generated in memory, nothing to fetch`);
    else {
      dir = await ensureDataset(d.cache, {
        dataDir,
        source: flags.source,
        remote: !flags.offline,
        log: (m) => console.error(m),
      });
      console.log(dir);
      for (const f of d.cache.files) {
        const check = f.sha256 ? `sha256 ${f.sha256}` : 'format checked';
        console.log(`  ${f.name.padEnd(26)}${String(statSync(join(dir, f.name)).size).padStart(10)} bytes  ${check}`);
      }
    }
    if (out) {
      const { entries, metadata } = exportTensors(d, d.load(dir, {}));
      await writeFileAtomic(out, encodeSafetensors(entries, metadata));
      console.log(
        `wrote ${out}: train.x [${entries['train.x'].shape.join(', ')}], test.x [${entries['test.x'].shape.join(', ')}], lower/upper/mutable [${d.shape.join(', ')}]`,
      );
    }
    return 0;
  },
});
