// The data layer's entry: datasets as plug-ins (dataset.ts, one file each in datasets/, the generated registry),
// the verified cache (cache.ts, with sources.ts, staging.ts and verify.ts), the file formats (formats/) and the
// seeded minibatch loader (loader.ts).
export * from './dataset.js';
export type { CacheFile, CacheSpec, RemoteSource } from './cache-spec.js';
export { DATASETS, DATASET_NAMES, findDataset, loadDataset } from './registry.js';
export { defaultDataDir, ensureDataset, readCached, type EnsureOptions } from './cache.js';
export { DatasetError } from './errors.js';
export { bytesProblem, verifyBytes } from './verify.js';
export {
  Loader,
  uploadRange,
  AUGMENT_PAD,
  type Batch,
  type GpuBatch,
  type LoaderOptions,
  type LoaderPosition,
} from './loader.js';
