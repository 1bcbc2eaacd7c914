// Float64 CPU reference implementations (PyTorch semantics), independent of the GPU code: the oracle the
// kernel tests compare against, and what finite differences differentiate.

export type F64 = Float64Array;

export interface Conv2dShape {
  n: number;
  c: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
}

export const convOut = (s: Conv2dShape): [number, number] => [
  Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1,
  Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1,
];

/** Cross-correlation, NCHW input, [Cout, C, kh, kw] weight, zero padding. */
export function conv2d(x: F64, wt: F64, s: Conv2dShape, bias?: F64): F64 {
  const [oh, ow] = convOut(s);
  const y = new Float64Array(s.n * s.cout * oh * ow);
  for (let n = 0; n < s.n; n++)
    for (let o = 0; o < s.cout; o++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let acc = bias ? bias[o] : 0;
          for (let c = 0; c < s.c; c++)
            for (let a = 0; a < s.kh; a++) {
              const ih = i * s.stride - s.pad + a;
              if (ih < 0 || ih >= s.h) continue;
              for (let b = 0; b < s.kw; b++) {
                const iw = j * s.stride - s.pad + b;
                if (iw < 0 || iw >= s.w) continue;
                acc += x[((n * s.c + c) * s.h + ih) * s.w + iw] * wt[((o * s.c + c) * s.kh + a) * s.kw + b];
              }
            }
          y[((n * s.cout + o) * oh + i) * ow + j] = acc;
        }
  return y;
}

/** Training-mode batch norm over (N, H, W) per channel, biased variance; returns y and the batch statistics. */
export function batchNormTrain(x: F64, gamma: F64, beta: F64, n: number, c: number, hw: number, eps = 1e-5) {
  const y = new Float64Array(x.length);
  const mean = new Float64Array(c);
  const varB = new Float64Array(c);
  const m = n * hw;
  for (let k = 0; k < c; k++) {
    let s = 0;
    for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) s += x[(b * c + k) * hw + i];
    mean[k] = s / m;
    let v = 0;
    for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) v += (x[(b * c + k) * hw + i] - mean[k]) ** 2;
    varB[k] = v / m;
    const inv = 1 / Math.sqrt(varB[k] + eps);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < hw; i++) {
        const idx = (b * c + k) * hw + i;
        y[idx] = gamma[k] * (x[idx] - mean[k]) * inv + beta[k];
      }
  }
  return { y, mean, varB };
}

export const relu = (x: F64): F64 => x.map((v) => Math.max(v, 0));

export const add = (a: F64, b: F64): F64 => a.map((v, i) => v + b[i]);

/** Mean over H·W: [N, C, HW] → [N, C]. */
export function avgPool(x: F64, nc: number, hw: number): F64 {
  const y = new Float64Array(nc);
  for (let i = 0; i < nc; i++) {
    let s = 0;
    for (let j = 0; j < hw; j++) s += x[i * hw + j];
    y[i] = s / hw;
  }
  return y;
}

/** y = x·wᵀ + b with x [n, in], w [out, in]. */
export function linear(x: F64, w: F64, b: F64 | null, n: number, inF: number, outF: number): F64 {
  const y = new Float64Array(n * outF);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o] : 0;
      for (let k = 0; k < inF; k++) acc += x[i * inF + k] * w[o * inF + k];
      y[i * outF + o] = acc;
    }
  return y;
}

/** Per-example softmax cross-entropy of logits [n, k] against integer labels. */
export function crossEntropy(logits: F64, labels: ArrayLike<number>, n: number, k: number): F64 {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, logits[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits[i * k + j] - mx);
    out[i] = mx + Math.log(s) - logits[i * k + labels[i]];
  }
  return out;
}

export const mean = (x: F64): number => x.reduce((a, b) => a + b, 0) / x.length;
