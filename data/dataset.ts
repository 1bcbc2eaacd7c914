// What a dataset is. Each file in data/datasets/ declares one (`export default defineDataset({...})`); the registry
// (data/registry.ts) is generated from that folder, and `advfree data`'s listing, the --data flags, the trainer's
// input shape and augmentation, the default threat model and model, and checkpoint metadata all derive from it.
import type { CacheSpec } from './cache-spec.js';

export type Split = 'train' | 'test';

/** One split in memory, as a model sees it. */
export interface SplitData {
  /**
   * Images: uint8 pixels, channel-major [C, H, W] per sample (scaled by 1/255 on the GPU). Tabular data: float32
   * features after the dataset's preprocessing.
   */
  x: Uint8Array | Float32Array;
  y: Int32Array;
  count: number;
  classes: number;
  /** One sample's shape: [C, H, W] or [features]. */
  shape: readonly number[];
}

export type Norm = 'linf' | 'l2';

/** The threat model a dataset is attacked under unless told otherwise, in the model's input units. */
export interface ThreatDefaults {
  norm: Norm;
  eps: number;
  /** Why this radius (the literature it follows). */
  why: string;
}

/**
 * Per input element of one sample: the box every input stays in and the elements an attacker may change (1) or
 * not (0: one-hot columns, immutable features). Images: [0, 1], all mutable.
 */
export interface FeatureBox {
  lower: Float32Array;
  upper: Float32Array;
  mutable: Uint8Array;
}

/** A dataset read into memory. */
export interface LoadedDataset {
  train: SplitData;
  test: SplitData;
  box: FeatureBox;
  /** Names of the input features (tabular data), null for images. */
  features: readonly string[] | null;
  /**
   * What a checkpoint records so that eval reproduces the model's inputs exactly (tabular preprocessing, the split's
   * index hash); string values, empty for images.
   */
  metadata: Record<string, string>;
}

export interface LoadOptions {
  /** Keep the first N examples of a split (after any split and preprocessing). */
  trainLimit?: number;
  testLimit?: number;
  /** A checkpoint's recorded `metadata`: the preprocessing is taken from it, not fitted again. */
  recorded?: Record<string, string>;
  /**
   * Hold out this fraction of the training split (stratified by class, seeded) as the evaluation split, for choosing
   * a model or its settings without touching the test split; limits apply to the two parts.
   */
  validation?: number;
}

export interface DatasetDescriptor {
  name: string;
  /** One line for listings. */
  summary: string;
  kind: 'image' | 'tabular';
  /** Class names, in label order. */
  classes: readonly string[];
  /** Examples in each split and one sample's shape as a model sees it: known before anything is fetched. */
  rows: { train: number; test: number };
  shape: readonly number[];
  /** The files the cache holds and where they come from; null for data generated in memory. */
  cache: CacheSpec | null;
  /** Training augmentation: CIFAR's zero-pad 4, random crop and horizontal flip, or none. */
  augment: 'crop-flip' | null;
  threat: ThreatDefaults;
  /** Other threat models the dataset is evaluated under (e.g. the other norm), each justified. */
  otherThreats?: readonly ThreatDefaults[];
  /** Tabular data: the features an attacker cannot change (their inputs have mutable 0 in the box), and why. */
  immutable?: { features: readonly string[]; why: string };
  /** The model trained when none is named. */
  model: string;
  /** Reads both splits from the verified cache folder (`dir` is '' when `cache` is null). */
  load(dir: string, opts: LoadOptions): LoadedDataset;
}

/** Declares a dataset (one file in data/datasets/). */
export const defineDataset = (d: DatasetDescriptor): DatasetDescriptor => d;

/** The first `limit` examples of a split (all without a limit). */
export function limitSplit(s: SplitData, limit: number | undefined): SplitData {
  if (limit === undefined || limit >= s.count) return s;
  const per = s.x.length / s.count;
  return { ...s, x: s.x.subarray(0, limit * per), y: s.y.subarray(0, limit), count: limit };
}

/** The examples `rows` of a split, in that order. */
export function gatherSplit(s: SplitData, rows: Uint32Array): SplitData {
  const per = s.shape.reduce((a, d) => a * d, 1);
  const x = s.x instanceof Uint8Array ? new Uint8Array(rows.length * per) : new Float32Array(rows.length * per);
  rows.forEach((r, i) => x.set(s.x.subarray(r * per, (r + 1) * per), i * per));
  return { ...s, x, y: Int32Array.from(rows, (r) => s.y[r]), count: rows.length };
}

/** The box of images in [0, 1] with every pixel mutable. */
export function unitBox(shape: readonly number[]): FeatureBox {
  const n = shape.reduce((a, d) => a * d, 1);
  return { lower: new Float32Array(n), upper: new Float32Array(n).fill(1), mutable: new Uint8Array(n).fill(1) };
}
