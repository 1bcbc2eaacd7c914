// Minibatches over an in-memory dataset: a seeded shuffle per epoch (the order of epoch e depends only on
// (seed, e)), a resumable position, one batch prepared ahead while the caller awaits GPU work, and the upload of
// a batch to the GPU: image bytes converted (and augmented, seeded by the batch's step, so a resumed run repeats
// it) on the GPU, tabular features as they are.
import { imagesToFloat, mix, mulberry32, tensor, type AugmentOptions, type Tensor } from '../engine/index.js';
import type { SplitData } from './dataset.js';

export interface LoaderPosition {
  epoch: number;
  /** Index of the next batch within the epoch. */
  batch: number;
}

export interface LoaderOptions {
  batchSize: number;
  /** Seed of the shuffle and of the augmentation, an integer in [0, 2^32) (default 0). */
  seed?: number;
  /** false: dataset order every epoch (evaluation). Default true. */
  shuffle?: boolean;
  /** Skip the smaller last batch of each epoch. Default false. */
  dropLast?: boolean;
  /** Where to start, e.g. a checkpoint's `batch.next`. Default epoch 0, batch 0. */
  start?: LoaderPosition;
  /** `upload` applies pad 4 + random crop + random horizontal flip (training; images only). Default false. */
  augment?: boolean;
}

export interface Batch {
  /** The samples in batch order (image bytes or tabular features). */
  x: Uint8Array | Float32Array;
  y: Int32Array;
  count: number;
  /** Dataset indices of the samples. */
  indices: Uint32Array;
  epoch: number;
  batch: number;
  /** Global batch number, epoch * batchesPerEpoch + batch: seeds the batch's augmentation. */
  step: number;
  /** The position after this batch: save it to resume with the following batch. */
  next: LoaderPosition;
}

/** A batch on the GPU, owned by the caller (dispose both). */
export interface GpuBatch {
  /** f32 [count, ...shape]: images in [0, 1], or tabular features. */
  x: Tensor;
  /** i32 [count]. */
  y: Tensor;
}

/** The standard CIFAR augmentation (Free-m, PGD and FGSM training all use it). */
export const AUGMENT_PAD = 4;

export class Loader {
  readonly count: number;
  /** Elements of one sample. */
  readonly sampleSize: number;
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  readonly sampleShape: readonly number[];
  private readonly x: Uint8Array | Float32Array;
  private readonly y: Int32Array;
  private readonly seed: number;
  private readonly shuffle: boolean;
  private readonly dropLast: boolean;
  private readonly augment: boolean;
  private pos: LoaderPosition = { epoch: 0, batch: 0 };
  private cached: { epoch: number; order: Uint32Array } | null = null;

  constructor(data: Pick<SplitData, 'x' | 'y' | 'shape'>, opts: LoaderOptions) {
    const n = data.y.length;
    if (n === 0) throw new Error('Loader: the dataset is empty');
    const size = data.shape.reduce((a, d) => a * d, 1);
    if (data.x.length !== n * size)
      throw new Error(`Loader: ${data.x.length} values do not make ${n} samples of shape [${data.shape.join(', ')}]`);
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1))
      throw new Error(`Loader: batchSize must be an integer >= 1, got ${opts.batchSize}`);
    const seed = opts.seed ?? 0;
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff))
      throw new Error(`Loader: seed must be an integer in [0, 2^32), got ${seed}`);
    if (opts.augment && !(data.x instanceof Uint8Array && data.shape.length === 3)) {
      throw new Error(
        `Loader: crop-and-flip augmentation needs image bytes [C, H, W], not samples of shape [${data.shape.join(', ')}]`,
      );
    }
    this.x = data.x;
    this.y = data.y;
    this.count = n;
    this.sampleSize = size;
    this.batchSize = opts.batchSize;
    this.seed = seed;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.augment = opts.augment ?? false;
    this.sampleShape = [...data.shape];
    this.batchesPerEpoch = this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
    if (this.batchesPerEpoch === 0)
      throw new Error(`Loader: dropLast with ${n} samples and batchSize ${this.batchSize} gives no batch`);
    if (opts.start) this.seek(opts.start);
  }

  /** The sample order of an epoch: a permutation of 0..count-1 that depends only on (seed, epoch). */
  order(epoch: number): Uint32Array {
    if (this.cached?.epoch === epoch) return this.cached.order;
    const order = new Uint32Array(this.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.shuffle) {
      const next = mulberry32(mix(this.seed, epoch));
      // Fisher-Yates; the 32-bit multiply-shift bias is below 2^-16 for any CIFAR-size dataset.
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor((next() * (i + 1)) / 4294967296);
        const t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    this.cached = { epoch, order };
    return order;
  }

  /** The position of the next batch to be handed out. */
  position(): LoaderPosition {
    return { ...this.pos };
  }

  seek(p: LoaderPosition): void {
    if (!(
      Number.isInteger(p.epoch) &&
      p.epoch >= 0 &&
      Number.isInteger(p.batch) &&
      p.batch >= 0 &&
      p.batch <= this.batchesPerEpoch
    )) {
      throw new Error(
        `Loader: position {epoch: ${p.epoch}, batch: ${p.batch}} is outside epochs >= 0, batches 0..${this.batchesPerEpoch}`,
      );
    }
    this.pos = p.batch === this.batchesPerEpoch ? { epoch: p.epoch + 1, batch: 0 } : { epoch: p.epoch, batch: p.batch };
  }

  private build(p: LoaderPosition): Batch {
    const order = this.order(p.epoch);
    const lo = p.batch * this.batchSize;
    const indices = order.slice(lo, Math.min(lo + this.batchSize, this.count));
    const sb = this.sampleSize;
    const x =
      this.x instanceof Uint8Array ? new Uint8Array(indices.length * sb) : new Float32Array(indices.length * sb);
    const y = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      x.set(this.x.subarray(i * sb, (i + 1) * sb), k * sb);
      y[k] = this.y[i];
    }
    const last = p.batch + 1 === this.batchesPerEpoch;
    const next = last ? { epoch: p.epoch + 1, batch: 0 } : { epoch: p.epoch, batch: p.batch + 1 };
    const step = p.epoch * this.batchesPerEpoch + p.batch;
    return { x, y, count: indices.length, indices, epoch: p.epoch, batch: p.batch, step, next };
  }

  /** The next batch (rolling over into the next epoch), synchronously. */
  next(): Batch {
    const b = this.build(this.pos);
    this.pos = b.next;
    return b;
  }

  /**
   * The remaining batches of the current epoch. The batch after the one handed out is built on the event loop
   * while the caller awaits its GPU work; the position advances only as batches are handed out, so breaking out
   * of the loop loses nothing.
   */
  async *epoch(): AsyncGenerator<Batch, void, undefined> {
    const epoch = this.pos.epoch;
    const ahead = (p: LoaderPosition): Promise<Batch> => new Promise((res) => setImmediate(() => res(this.build(p))));
    let pending: Promise<Batch> | null = ahead(this.pos);
    while (pending) {
      const b: Batch = await pending;
      pending = b.next.epoch === epoch ? ahead(b.next) : null;
      this.pos = b.next;
      yield b;
    }
  }

  /**
   * Uploads a batch: image bytes as a u8 tensor converted to f32 on the GPU (augmented when the loader was made
   * with `augment`, seeded by (seed, step)), features as f32, and its labels as i32.
   */
  upload(b: Batch): GpuBatch {
    return uploadSamples(b.x, b.y, [b.count, ...this.sampleShape], `batch ${b.step}`, this.augmentation(b));
  }

  /** The augmentation `upload` applies to a batch (undefined without augmentation). */
  augmentation(b: Batch): AugmentOptions | undefined {
    return this.augment ? { pad: AUGMENT_PAD, flip: true, seed: this.seed, step: b.step } : undefined;
  }
}

/** Samples to the GPU: image bytes converted to f32 there (augmented with `augment`), features as they are. */
function uploadSamples(
  x: Uint8Array | Float32Array,
  y: Int32Array,
  shape: readonly number[],
  name: string,
  augment?: AugmentOptions,
): GpuBatch {
  const labels = tensor(y, [shape[0]], { name: `${name} labels` });
  if (x instanceof Float32Array) return { x: tensor(x, shape, { name }), y: labels };
  const bytes = tensor(x, shape, { name: `${name} bytes` });
  const out = imagesToFloat(bytes, { augment });
  bytes.dispose(); // the pool reuses its buffer only after the conversion is submitted
  return { x: out, y: labels };
}

/** Samples lo .. lo+count-1 of a split in order, without augmentation (evaluation, held batches); the caller disposes both. */
export function uploadRange(
  data: Pick<SplitData, 'x' | 'y' | 'shape'>,
  lo: number,
  count: number,
  name = 'samples',
): GpuBatch {
  const sb = data.shape.reduce((a, d) => a * d, 1);
  return uploadSamples(
    data.x.subarray(lo * sb, (lo + count) * sb),
    data.y.subarray(lo, lo + count),
    [count, ...data.shape],
    name,
  );
}
