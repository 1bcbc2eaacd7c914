// A perturbation per training example, kept on the host (ATTA): int8, quantised to eps/127, in the frame of the
// zero-padded image, (H + 2·pad) x (W + 2·pad), so that each epoch's crop and flip can be cut out of it and the
// attacked crop written back where it came from, the rest of the frame keeping its older values.
// Why the host: the CIFAR-10 store is 50,000 x 3 x 40 x 40 values; as f32 that is 1.2 GB, far beyond lavapipe's
// 128 MiB binding limit, and even as int8 (240 MB) it would need chunked buffers; on the host a step moves only
// its batch's crops (upload N·C·H·W floats, read the same back).
// A reset does not draw 240 million values at once: each example's frame is drawn from its own counter-based
// generator when the example is first used, which gives the same store as drawing every frame at the reset.
import { mix, mulberry32 } from '../engine/index.js';
import type { BatchInfo, HostStateArray } from './method.js';

/** The levels of a quantised value: -127..127 (-128 unused, so the range is symmetric). */
const LEVELS = 127;
const level = (v: number): number => Math.max(-LEVELS, Math.min(LEVELS, Math.round(v)));

/** The standard normal CDF, from erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf =
    1 -
    t *
      (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) *
      Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

type Batch = Pick<BatchInfo, 'indices' | 'augment'>;

export class PerturbationStore {
  /** [count, C, H + 2·pad, W + 2·pad], in units of `quantum`. */
  readonly levels: Int8Array;
  /** Per example: 1 while its frame is still the undrawn initial noise. */
  readonly undrawn: Uint8Array;
  /** The seed of the initial noise (example i's frame is drawn from the generator seeded by mix(seed, i)). */
  readonly noiseSeed = new Int32Array(1);
  /** eps / 127: the value of one level. */
  readonly quantum: number;
  readonly frameH: number;
  readonly frameW: number;
  private readonly frameSize: number;
  /** cdf[l]·2^32 = P(noise level <= l - 127): the quantised initial noise, sampled by inversion. */
  private readonly cdf = new Float64Array(2 * LEVELS + 1);

  constructor(
    readonly count: number,
    readonly channels: number,
    readonly height: number,
    readonly width: number,
    readonly pad: number,
    eps: number,
  ) {
    if (!(eps > 0)) throw new Error(`PerturbationStore: eps must be positive, got ${eps}`);
    this.frameH = height + 2 * pad;
    this.frameW = width + 2 * pad;
    this.frameSize = channels * this.frameH * this.frameW;
    this.quantum = eps / LEVELS;
    this.levels = new Int8Array(count * this.frameSize);
    this.undrawn = new Uint8Array(count);
  }

  /** Every value becomes N(0, std²) noise, quantised, drawn from generators seeded by `seed` (reproducible). */
  reset(std: number, seed: number): void {
    const s = std / this.quantum;
    for (let l = -LEVELS; l < LEVELS; l++) this.cdf[l + LEVELS] = normalCdf((l + 0.5) / s) * 4294967296;
    this.cdf[2 * LEVELS] = Infinity;
    this.noiseSeed[0] = seed;
    this.undrawn.fill(1);
  }

  /** The frame [C, H + 2·pad, W + 2·pad] of example `index` (a view), drawn first if it is still undrawn. */
  frame(index: number): Int8Array {
    if (!(Number.isInteger(index) && index >= 0 && index < this.count))
      throw new Error(`PerturbationStore: example ${index} is outside the store of ${this.count} examples`);
    const f = this.levels.subarray(index * this.frameSize, (index + 1) * this.frameSize);
    if (this.undrawn[index]) {
      const next = mulberry32(mix(this.noiseSeed[0], index));
      const cdf = this.cdf;
      for (let k = 0; k < f.length; k++) {
        const u = next();
        let lo = 0;
        let hi = cdf.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (u < cdf[mid]) hi = mid;
          else lo = mid + 1;
        }
        f[k] = lo - LEVELS;
      }
      this.undrawn[index] = 0;
    }
    return f;
  }

  /**
   * Calls visit(frame, row, k, flip) for every row of the batch's crops: k is the row's first index in the crops
   * [N, C, H, W], `row` its first index in the frame. Crop pixel (y, x) of an example cut at (dy, dx) is frame pixel
   * (y + dy, x' + dx), x' = W-1-x if flipped else x, as the loader's augmentation (engine/ops/augment.ts) cuts the
   * padded image; without augmentation the cut is at (pad, pad), unflipped.
   */
  private forEachRow(batch: Batch, visit: (frame: Int8Array, row: number, k: number, flip: boolean) => void): void {
    const { channels: C, height: H, width: W, frameH: FH, frameW: FW } = this;
    const a = batch.augment;
    if ((a?.pad ?? this.pad) !== this.pad)
      throw new Error(`PerturbationStore: the batch is cut from images padded by ${a!.pad}, the store by ${this.pad}`);
    let k = 0;
    batch.indices.forEach((index, e) => {
      const frame = this.frame(index);
      const [dy, dx, flip] = a ? [a.dy[e], a.dx[e], a.flip[e] === 1] : [this.pad, this.pad, false];
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < H; y++, k += W) visit(frame, (c * FH + y + dy) * FW + dx, k, flip);
      }
    });
  }

  /** The batch's crops of the store, [N, C, H, W] as floats. */
  crop(batch: Batch): Float32Array {
    const W = this.width;
    const out = new Float32Array(batch.indices.length * this.channels * this.height * W);
    const q = this.quantum;
    this.forEachRow(batch, (frame, row, k, flip) => {
      for (let x = 0; x < W; x++) out[k + x] = frame[row + (flip ? W - 1 - x : x)] * q;
    });
    return out;
  }

  /** Writes the batch's crops [N, C, H, W] back where `crop` cut them, quantised (rounded, clipped to ±eps). */
  write(batch: Batch, values: ArrayLike<number>): void {
    const W = this.width;
    const n = batch.indices.length * this.channels * this.height * W;
    if (values.length !== n)
      throw new Error(
        `PerturbationStore: ${values.length} values for the crops of ${batch.indices.length} examples (${n})`,
      );
    const inv = 1 / this.quantum;
    this.forEachRow(batch, (frame, row, k, flip) => {
      for (let x = 0; x < W; x++) frame[row + (flip ? W - 1 - x : x)] = level(values[k + x] * inv);
    });
  }

  /** What a training state must hold to continue this store. */
  arrays(): Record<string, HostStateArray> {
    return { levels: this.levels, undrawn: this.undrawn, noiseSeed: this.noiseSeed };
  }
}
