// torch.optim.Adam in float64, as its documentation writes the algorithm (amsgrad off, maximize off): the oracle
// the GPU kernel is compared against. Written from the textbook form with explicit bias-corrected moments,
//   g ← g + λ·θ;  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  m̂ = m / (1 − β1^t);  v̂ = v / (1 − β2^t)
//   θ ← θ − γ·m̂ / (sqrt(v̂) + ε)
// not from the kernel's rearrangement (step size and sqrt(1 − β2^t) folded into uniforms).
import type { F64 } from './f64-ops.js';

export interface Adam64Options {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

/** One parameter tensor's Adam state: the parameter, both moments and the number of steps taken. */
export interface Adam64 {
  param: F64;
  expAvg: F64;
  expAvgSq: F64;
  step: number;
}

/** A fresh optimizer's state for `param` (copied): zero moments, no step taken. */
export const adam64 = (param: ArrayLike<number>): Adam64 => ({
  param: Float64Array.from(param),
  expAvg: new Float64Array(param.length),
  expAvgSq: new Float64Array(param.length),
  step: 0,
});

/** One Adam step from `grad`, in place. */
export function adamStep64(s: Adam64, grad: ArrayLike<number>, o: Adam64Options): void {
  const [b1, b2] = o.betas;
  s.step += 1;
  const c1 = 1 - b1 ** s.step;
  const c2 = 1 - b2 ** s.step;
  for (let i = 0; i < s.param.length; i++) {
    const g = grad[i] + o.weightDecay * s.param[i];
    s.expAvg[i] = b1 * s.expAvg[i] + (1 - b1) * g;
    s.expAvgSq[i] = b2 * s.expAvgSq[i] + (1 - b2) * g * g;
    s.param[i] -= (o.lr * (s.expAvg[i] / c1)) / (Math.sqrt(s.expAvgSq[i] / c2) + o.eps);
  }
}
