// FAB's L-inf projection (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast adaptive
// boundary attack", section 3.2; autoattack/fab_projections.py projection_linf), on the host, one example at a time:
// the smallest L-inf step d that puts t + d on the hyperplane w·v = b while keeping t + d in the box [0, 1].

/**
 * Writes into d the minimiser of ||d||_inf subject to w·(t + d) = b and 0 <= t + d <= 1. Each coordinate moves
 * in the direction that changes w·d towards the hyperplane, by min(lambda, its room to the box), with lambda the
 * smallest radius whose reach sum_i |w_i|·min(lambda, room_i) covers the distance |b - w·t|; where the box cannot
 * reach the hyperplane, every coordinate goes all the way (the box corner nearest it), as the reference does.
 * Coordinates with w_i = 0 stay put. Float64 throughout; returns ||d||_inf.
 */
export function projectLinf(t: ArrayLike<number>, w: ArrayLike<number>, b: number, d: Float64Array): number {
  const n = t.length;
  let c = b;
  for (let i = 0; i < n; i++) c -= w[i] * t[i];
  const need = Math.abs(c);
  // dir_i = sign(w_i·c): +1 moves t_i up to 1, -1 down to 0.
  const room = new Float64Array(n);
  let reach = 0;
  let slope = 0;
  for (let i = 0; i < n; i++) {
    if (w[i] === 0) continue;
    room[i] = w[i] * c > 0 ? 1 - t[i] : t[i];
    reach += Math.abs(w[i]) * room[i];
    slope += Math.abs(w[i]);
  }
  let lambda = Infinity;
  if (reach > need) {
    // Sweep the rooms in increasing order: between breakpoints the reach is linear in lambda with the slope of
    // the coordinates not yet saturated.
    const order = Array.from({ length: n }, (_, i) => i).filter((i) => w[i] !== 0).sort((a, b2) => room[a] - room[b2]);
    let done = 0;
    for (const i of order) {
      lambda = (need - done) / slope;
      if (lambda <= room[i]) break;
      done += Math.abs(w[i]) * room[i];
      slope -= Math.abs(w[i]);
    }
    lambda = Math.max(lambda, 0);
  }
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const step = w[i] === 0 ? 0 : Math.min(lambda, room[i]);
    d[i] = w[i] * c > 0 ? step : -step;
    norm = Math.max(norm, step);
  }
  return norm;
}
