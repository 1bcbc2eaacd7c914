// The datasets: every descriptor in data/datasets/ (listed by scripts/gen-registries.mjs at build time). The CLI's
// --data choices, `advfree data`'s listing and fetching, and the trainer's input shape derive from this list.
import { ensureDataset, type EnsureOptions } from './cache.js';
import { gatherSplit, limitSplit, type DatasetDescriptor, type LoadedDataset, type LoadOptions } from './dataset.js';
import { DESCRIPTORS } from './datasets/index.js';
import { DatasetError } from './errors.js';
import { splitRows } from './split.js';

/** By name. */
export const DATASETS: readonly DatasetDescriptor[] = [...DESCRIPTORS].sort((a, b) => a.name.localeCompare(b.name));

export const DATASET_NAMES: readonly string[] = DATASETS.map((d) => d.name);

export function findDataset(name: string): DatasetDescriptor {
  const d = DATASETS.find((x) => x.name === name);
  if (!d) throw new DatasetError(`unknown dataset '${name}'; datasets: ${DATASET_NAMES.join(', ')}`);
  return d;
}

/** Makes sure the dataset is in the cache (fetched and verified once) and reads it. */
export async function loadDataset(
  d: DatasetDescriptor,
  opts: EnsureOptions & LoadOptions = {},
): Promise<LoadedDataset> {
  const dir = d.cache ? await ensureDataset(d.cache, opts) : '';
  const { validation } = opts;
  if (validation === undefined) return d.load(dir, opts);
  if (!(validation > 0 && validation < 1))
    throw new DatasetError(`${d.name}: the validation fraction must be in (0, 1), got ${validation}`);
  const all = d.load(dir, { ...opts, trainLimit: undefined, testLimit: undefined });
  const split = splitRows(all.train.y, d.classes.length, { kind: 'stratified', test: validation, seed: 0 });
  return {
    ...all,
    train: limitSplit(gatherSplit(all.train, split.train), opts.trainLimit),
    test: limitSplit(gatherSplit(all.train, split.test), opts.testLimit),
    metadata: {
      ...all.metadata,
      validation: JSON.stringify({
        rule: split.rule,
        train: split.train.length,
        held_out: split.test.length,
        sha256: split.sha256,
      }),
    },
  };
}
