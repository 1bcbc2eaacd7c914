// The datasets: every descriptor in data/datasets/ (listed by scripts/gen-registries.mjs at build time). The CLI's
// --data choices, `advfree data`'s listing and fetching, and the trainer's input shape derive from this list.
import { ensureDataset, type EnsureOptions } from './cache.js';
import type { DatasetDescriptor, LoadedDataset, LoadOptions } from './dataset.js';
import { DESCRIPTORS } from './datasets/index.js';
import { DatasetError } from './errors.js';

/** By name. */
export const DATASETS: readonly DatasetDescriptor[] = [...DESCRIPTORS].sort((a, b) => a.name.localeCompare(b.name));

export const DATASET_NAMES: readonly string[] = DATASETS.map((d) => d.name);

export function findDataset(name: string): DatasetDescriptor {
  const d = DATASETS.find((x) => x.name === name);
  if (!d) throw new DatasetError(`unknown dataset '${name}'; datasets: ${DATASET_NAMES.join(', ')}`);
  return d;
}

/** Makes sure the dataset is in the cache (fetched and verified once) and reads it. */
export async function loadDataset(d: DatasetDescriptor, opts: EnsureOptions & LoadOptions = {}): Promise<LoadedDataset> {
  const dir = d.cache ? await ensureDataset(d.cache, opts) : '';
  return d.load(dir, opts);
}
