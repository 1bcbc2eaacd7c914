// Float64 CPU reference implementations of the ops a WideResNet step uses (PyTorch semantics), forward and
// backward side by side, independent of the GPU code: the oracle the kernel tests compare against, what finite
// differences differentiate, and the exact step the peer bench measures both fp32 engines against.

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

/** The outputs [lo, hi) of an axis whose input index o·stride − pad + k lies inside [0, size). */
function inside(out: number, size: number, stride: number, pad: number, k: number): [number, number] {
  return [Math.max(0, Math.ceil((pad - k) / stride)), Math.min(out, Math.floor((size - 1 + pad - k) / stride) + 1)];
}

/**
 * The convolution's loop nest with output rows innermost, so that the work is a contiguous run along each row
 * (a WRN step is ~10 GFLOP): row(yi, xi, wi, len) pairs y[yi + t] with x[xi + t·stride] through weight wi, t < len.
 */
function eachRow(s: Conv2dShape, row: (yi: number, xi: number, wi: number, len: number) => void): void {
  const [oh, ow] = convOut(s);
  for (let n = 0; n < s.n; n++)
    for (let o = 0; o < s.cout; o++)
      for (let c = 0; c < s.c; c++)
        for (let a = 0; a < s.kh; a++) {
          const [i0, i1] = inside(oh, s.h, s.stride, s.pad, a);
          for (let b = 0; b < s.kw; b++) {
            const [j0, j1] = inside(ow, s.w, s.stride, s.pad, b);
            if (j1 <= j0) continue;
            const wi = ((o * s.c + c) * s.kh + a) * s.kw + b;
            for (let i = i0; i < i1; i++) {
              const ih = i * s.stride - s.pad + a;
              row(
                ((n * s.cout + o) * oh + i) * ow + j0,
                ((n * s.c + c) * s.h + ih) * s.w + j0 * s.stride - s.pad + b,
                wi,
                j1 - j0,
              );
            }
          }
        }
}

/** Cross-correlation, NCHW input, [Cout, C, kh, kw] weight, zero padding. */
export function conv2d(x: F64, wt: F64, s: Conv2dShape, bias?: F64): F64 {
  const [oh, ow] = convOut(s);
  const y = new Float64Array(s.n * s.cout * oh * ow);
  if (bias) for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / (oh * ow)) % s.cout];
  const st = s.stride;
  eachRow(s, (yi, xi, wi, len) => {
    const w = wt[wi];
    for (let t = 0; t < len; t++) y[yi + t] += w * x[xi + t * st];
  });
  return y;
}

/** Gradients of conv2d (without bias) for the output gradient dy: the input's and the weight's. */
export function conv2dBackward(dy: F64, x: F64, wt: F64, s: Conv2dShape): { dx: F64; dw: F64 } {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(wt.length);
  const st = s.stride;
  eachRow(s, (yi, xi, wi, len) => {
    const w = wt[wi];
    let acc = 0;
    for (let t = 0; t < len; t++) {
      const g = dy[yi + t];
      dx[xi + t * st] += w * g;
      acc += g * x[xi + t * st];
    }
    dw[wi] += acc;
  });
  return { dx, dw };
}

export interface BatchStats {
  mean: F64;
  /** Biased (divided by N·H·W), as training-mode normalization uses. */
  varB: F64;
}

/** Training-mode batch norm over (N, H, W) per channel, biased variance; returns y and the batch statistics. */
export function batchNormTrain(
  x: F64,
  gamma: F64,
  beta: F64,
  n: number,
  c: number,
  hw: number,
  eps = 1e-5,
): { y: F64 } & BatchStats {
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

/**
 * Gradients of training-mode batch norm (the statistics depend on x) with x̂ = (x − mean)/√(var + eps), M = N·H·W:
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/√(var + eps) · (dy − dβ/M − x̂·dγ/M).
 */
export function batchNormTrainBackward(
  dy: F64,
  x: F64,
  gamma: F64,
  st: BatchStats,
  n: number,
  c: number,
  hw: number,
  eps = 1e-5,
) {
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  const m = n * hw;
  for (let k = 0; k < c; k++) {
    const inv = 1 / Math.sqrt(st.varB[k] + eps);
    let sdy = 0;
    let sdyx = 0;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < hw; i++) {
        const idx = (b * c + k) * hw + i;
        sdy += dy[idx];
        sdyx += dy[idx] * (x[idx] - st.mean[k]) * inv;
      }
    dbeta[k] = sdy;
    dgamma[k] = sdyx;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < hw; i++) {
        const idx = (b * c + k) * hw + i;
        dx[idx] = gamma[k] * inv * (dy[idx] - sdy / m - (x[idx] - st.mean[k]) * inv * (sdyx / m));
      }
  }
  return { dx, dgamma, dbeta };
}

export const relu = (x: F64): F64 => x.map((v) => Math.max(v, 0));

/** ReLU's gradient from its output y: dy where y > 0, else 0 (PyTorch's choice at 0). */
export const reluBackward = (dy: F64, y: F64): F64 => dy.map((g, i) => (y[i] > 0 ? g : 0));

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

/** avgPool's input gradient: each of the H·W positions gets dy/HW. */
export const avgPoolBackward = (dy: F64, hw: number): F64 =>
  Float64Array.from({ length: dy.length * hw }, (_, i) => dy[Math.floor(i / hw)] / hw);

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

/** linear's gradients: dx = dy·w, dw = dyᵀ·x, db = Σ dy over the batch. */
export function linearBackward(
  dy: F64,
  x: F64,
  w: F64,
  n: number,
  inF: number,
  outF: number,
): { dx: F64; dw: F64; db: F64 } {
  const dx = new Float64Array(n * inF);
  const dw = new Float64Array(outF * inF);
  const db = new Float64Array(outF);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < outF; o++) {
      const g = dy[i * outF + o];
      db[o] += g;
      for (let k = 0; k < inF; k++) {
        dx[i * inF + k] += g * w[o * inF + k];
        dw[o * inF + k] += g * x[i * inF + k];
      }
    }
  return { dx, dw, db };
}

/** Softmax of each row of logits [n, k], shifted by the row's max. */
function softmaxRows(logits: F64, n: number, k: number): { p: F64; logSum: F64 } {
  const p = new Float64Array(n * k);
  const logSum = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, logits[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += p[i * k + j] = Math.exp(logits[i * k + j] - mx);
    for (let j = 0; j < k; j++) p[i * k + j] /= s;
    logSum[i] = mx + Math.log(s);
  }
  return { p, logSum };
}

/** Per-example softmax cross-entropy of logits [n, k] against integer labels. */
export function crossEntropy(logits: F64, labels: ArrayLike<number>, n: number, k: number): F64 {
  const { logSum } = softmaxRows(logits, n, k);
  return logSum.map((l, i) => l - logits[i * k + labels[i]]);
}

/** Gradient of the batch-mean cross-entropy for the logits: (softmax − one-hot)/n. */
export function crossEntropyMeanBackward(logits: F64, labels: ArrayLike<number>, n: number, k: number): F64 {
  const { p } = softmaxRows(logits, n, k);
  for (let i = 0; i < n; i++) p[i * k + labels[i]] -= 1;
  return p.map((v) => v / n);
}

export const mean = (x: F64): number => x.reduce((a, b) => a + b, 0) / x.length;

/** One sample's box and mask (1: mutable), broadcast over the rows of a batch. */
export interface F64Region {
  lower: ArrayLike<number>;
  upper: ArrayLike<number>;
  mutable: ArrayLike<number>;
}

export interface F64PerturbOptions {
  from: 'point' | 'delta';
  /** `gate`: each row's step scaled by gate[row]. */
  step?: { g: ArrayLike<number>; size: number; direction: 'linf' | 'l2'; gate?: ArrayLike<number> };
  ball: 'none' | 'linf' | 'l2' | 'l2-sphere';
  radius: number;
  box: boolean;
  to: 'point' | 'delta';
}

/**
 * A batch of perturbations kept in a norm ball, a box and a mask (engine/ops/perturb.ts's semantics), row by row:
 * d = (a − x or a) + the step (size·sign(g), or size·g/(‖g‖₂ + 1e-12) over the mutable elements), zero where
 * fixed; then the ball (L-inf: clamp to ±r; L2: scaled to r where ‖d‖₂ > r; L2 sphere: scaled to ‖d‖₂ = r); then
 * x + d clamped to the box widened to contain x. Returns the point, or the perturbation (after the box, if any).
 */
export function perturb(x: ArrayLike<number>, a: ArrayLike<number>, region: F64Region, o: F64PerturbOptions): F64 {
  const cols = region.lower.length;
  const rows = x.length / cols;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const at = (j: number) => r * cols + j;
    const mut = (j: number) => region.mutable[j] > 0.5;
    const s = o.step;
    const size = (s?.size ?? 0) * (s?.gate ? s.gate[r] : 1);
    let gNorm = 0;
    if (s?.direction === 'l2') for (let j = 0; j < cols; j++) if (mut(j)) gNorm += s.g[at(j)] ** 2;
    gNorm = Math.sqrt(gNorm);
    const d = Float64Array.from({ length: cols }, (_, j) => {
      if (!mut(j)) return 0;
      let v = o.from === 'point' ? a[at(j)] - x[at(j)] : a[at(j)];
      if (s) v += size * (s.direction === 'linf' ? Math.sign(s.g[at(j)]) : s.g[at(j)] / (gNorm + 1e-12));
      return v;
    });
    const n = Math.sqrt(d.reduce((acc, v) => acc + v * v, 0));
    const f =
      o.ball === 'l2' ? (n > o.radius ? o.radius / n : 1) : o.ball === 'l2-sphere' ? (n > 0 ? o.radius / n : 0) : 1;
    for (let j = 0; j < cols; j++) {
      const dj = o.ball === 'linf' ? Math.min(o.radius, Math.max(-o.radius, d[j])) : d[j] * f;
      const xj = x[at(j)];
      if (o.to === 'delta' && !o.box) {
        out[at(j)] = dj;
        continue;
      }
      const v = o.box
        ? Math.min(Math.max(xj + dj, Math.min(region.lower[j], xj)), Math.max(region.upper[j], xj))
        : xj + dj;
      out[at(j)] = o.to === 'delta' ? v - xj : v;
    }
  }
  return out;
}
