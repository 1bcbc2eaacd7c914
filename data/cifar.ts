// CIFAR-10/100 in the official binary format, fetched once into a cache folder and verified: the entry that the
// commands use. catalogue.ts: the datasets and checksums; verify.ts: the checks; sources.ts and npm-copy.ts: where
// files come from; staging.ts: the staging folders; cache.ts: ensureDataset; load.ts: loadSplit; errors.ts:
// DatasetError and what a failed file-system call means.
export { DATASETS, IMAGE_BYTES, type DatasetFile, type DatasetName, type DatasetSpec, type Split } from './catalogue.js';
export { DatasetError } from './errors.js';
export { rebuildFromPng } from './npm-copy.js';
export { bytesProblem, verifyBytes } from './verify.js';
export { defaultDataDir, ensureDataset, type EnsureOptions } from './cache.js';
export { loadSplit, type SplitData } from './load.js';
