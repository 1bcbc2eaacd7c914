// Host-side data for the benchmarks: seeded inputs both engines receive, layout permutations between our NCHW /
// OIHW tensors and TensorFlow.js's NHWC / HWIO, and the error measure used to check that both agree.

/** Normal(0, std) samples from a seeded Mulberry32 stream (Box-Muller), so every run feeds identical data. */
export function randn(n: number, seed: number, std = 1): Float32Array {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return out;
}

/** Reorders the axes of a dense row-major array: result axis i is source axis perm[i]. */
export function permute(src: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const srcStrides = new Array<number>(rank);
  srcStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) srcStrides[i] = srcStrides[i + 1] * shape[i + 1];
  const strides = perm.map((p) => srcStrides[p]);
  const out = new Float32Array(src.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    for (let i = 0; i < rank; i++) s += idx[i] * strides[i];
    out[o] = src[s];
    for (let i = rank - 1; i >= 0 && ++idx[i] === outShape[i]; i--) idx[i] = 0;
  }
  return out;
}

/** [N,C,H,W] → [N,H,W,C], and back. */
export const NCHW_TO_NHWC = [0, 2, 3, 1] as const;
export const NHWC_TO_NCHW = [0, 3, 1, 2] as const;
/** Conv weights [Cout,C,kH,kW] → [kH,kW,C,Cout], and back. */
export const OIHW_TO_HWIO = [2, 3, 1, 0] as const;
export const HWIO_TO_OIHW = [3, 2, 0, 1] as const;

/**
 * max|a − b| / max|b|: the worst difference relative to the reference's scale. Elementwise relative error is
 * meaningless for gradients with many near-zero entries, where both engines round differently.
 */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`advfree bench: comparing ${a.length} values with ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/**
 * ‖a − b‖₂ / ‖b‖₂: the agreement measure for a whole network's gradients, where a few ReLU masks flip (fp32 batch
 * statistics that differ in the last bits) and make the worst single element differ by percent while the
 * gradient as a whole agrees closely.
 */
export function relNormError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`advfree bench: comparing ${a.length} values with ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    scale += b[i] ** 2;
  }
  return Math.sqrt(scale === 0 ? diff : diff / scale);
}
