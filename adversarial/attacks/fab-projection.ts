// FAB's projection (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast adaptive boundary
// attack", section 3.2; autoattack/fab_projections.py projection_linf and projection_l2), on the host, one example
// at a time: the smallest step d, in L-inf or L2, that puts t + d on the hyperplane w·v = b while keeping t + d in
// the box [lo, hi].
import type { Norm } from '../threat.js';

/**
 * Writes into d the minimiser of ‖d‖ subject to w·(t + d) = b and lo <= t + d <= hi. Each coordinate moves in
 * the direction that changes w·d towards the hyperplane, by min(lambda·a_i, its room to the box), a_i = 1 for
 * L-inf and |w_i| for L2 (the KKT conditions of each norm), with lambda the smallest multiplier whose reach
 * sum_i |w_i|·min(lambda·a_i, room_i) covers the distance |b - w·t|; where the box cannot reach the hyperplane,
 * every coordinate goes all the way (the box corner nearest it), as the reference does. Coordinates with w_i = 0
 * stay put (a fixed element: the caller zeroes its w). Float64 throughout; returns ‖d‖.
 */
export function projectHyperplane(
  norm: Norm,
  t: ArrayLike<number>,
  w: ArrayLike<number>,
  b: number,
  lo: ArrayLike<number>,
  hi: ArrayLike<number>,
  d: Float64Array,
): number {
  const n = t.length;
  let c = b;
  for (let i = 0; i < n; i++) c -= w[i] * t[i];
  const need = Math.abs(c);
  const a = (i: number) => (norm === 'linf' ? 1 : Math.abs(w[i]));
  // dir_i = sign(w_i·c): +1 moves t_i up to hi_i, -1 down to lo_i.
  const room = new Float64Array(n);
  let reach = 0;
  let slope = 0;
  for (let i = 0; i < n; i++) {
    if (w[i] === 0) continue;
    room[i] = w[i] * c > 0 ? hi[i] - t[i] : t[i] - lo[i];
    reach += Math.abs(w[i]) * room[i];
    slope += Math.abs(w[i]) * a(i);
  }
  let lambda = Infinity;
  if (reach > need) {
    // Sweep the coordinates by the multiplier at which each saturates: between these breakpoints the reach is
    // linear in lambda with the slope of the coordinates not yet saturated.
    const at = (i: number) => room[i] / a(i);
    const order = Array.from({ length: n }, (_, i) => i)
      .filter((i) => w[i] !== 0)
      .sort((i, j) => at(i) - at(j));
    let done = 0;
    for (const i of order) {
      lambda = (need - done) / slope;
      if (lambda <= at(i)) break;
      done += Math.abs(w[i]) * room[i];
      slope -= Math.abs(w[i]) * a(i);
    }
    lambda = Math.max(lambda, 0);
  }
  let out = 0;
  for (let i = 0; i < n; i++) {
    const step = w[i] === 0 ? 0 : Math.min(lambda * a(i), room[i]);
    d[i] = w[i] * c > 0 ? step : -step;
    out = norm === 'linf' ? Math.max(out, step) : out + step * step;
  }
  return norm === 'linf' ? out : Math.sqrt(out);
}
