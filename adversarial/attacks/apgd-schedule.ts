// APGD's checkpoints (Croce & Hein 2020, section 3.2): w_j = ceil(p_j · N_iter) with p_0 = 0, p_1 = 0.22 and
// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), so the intervals shrink from 22% of the budget to 6%.

/** The iterations w_1 < w_2 < ... <= steps after which APGD may halve an example's step size. */
export function apgdCheckpoints(steps: number): number[] {
  // In hundredths, so the arithmetic is exact: 0.22 · 100 is 22.000000000000004 in floating point.
  const out: number[] = [];
  for (let prev = 0, p = 22; p <= 100; [prev, p] = [p, p + Math.max(p - prev - 3, 6)]) {
    const w = Math.ceil((p * steps) / 100);
    if (w > (out.at(-1) ?? 0)) out.push(w);
  }
  return out;
}
