// The Square Attack for L-inf (Andriushchenko et al., ECCV 2020), as AutoAttack runs it (autoattack/square.py,
// margin loss, one restart): a random search that queries the model's logits only, no gradient, so it is the check
// that a robust accuracy is not gradient masking. It starts from vertical stripes (each column of each channel at
// x ± eps), then each query proposes, for the examples not yet fooled, the current best point with one random
// square window (side from the p schedule, shared by the batch as in the reference) set to x ± eps per channel, and
// keeps it where the margin z_y − max_{j≠y} z_j drops. The search runs on the host; each query is one forward pass.
// Defined on images [N, C, H, W] and the L-inf ball (AutoAttack's L2 Square, with its nested-square windows, is
// not implemented); the box and fixed pixels are the threat model's.
import { marginLoss, ShapeError, tensor, tidy, type Tensor } from '../../engine/index.js';
import { hostUniform } from '../../engine/index.js';
import { defineAttack } from '../attack.js';
import type { ThreatModel } from '../threat.js';
import { checkAttack } from './check.js';
import { QUERIES } from './shared-options.js';
import { predict } from './model.js';
import { noAttackPasses, type AttackPasses, type AttackResult, type Classifier } from './types.js';

export interface SquareOptions {
  threat: ThreatModel;
  /** Queries per example (default 5000, AutoAttack's). */
  queries?: number;
  /** The initial fraction of pixels a square covers (default 0.8). */
  pInit?: number;
  /** The random search draws from (seed, stream). */
  seed?: number;
  stream?: number;
}

/**
 * The fraction p of the image a square covers at query i of `queries`: pInit halved at 10, 50, 200, 500, 1000,
 * 2000, 4000, 6000 and 8000 of 10,000 queries, the schedule rescaled to the budget (square.py p_selection).
 */
export function squareFraction(i: number, queries: number, pInit: number): number {
  const it = Math.trunc((i / queries) * 10000);
  const steps = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000].filter((s) => it > s).length;
  return pInit / 2 ** steps;
}

/** Margins z_y − max_{j≠y} z_j of rows of host data: one forward pass, no backward. */
async function margins(
  classify: Classifier,
  v: Float32Array,
  shape: readonly number[],
  labels: Int32Array,
  passes: AttackPasses,
): Promise<Float32Array> {
  const m = tidy(() => {
    const x = tensor(v, [...shape], { name: 'square_query' });
    const y = tensor(labels, [labels.length], { name: 'square_labels' });
    return marginLoss(classify(x), y);
  });
  passes.forward++;
  try {
    return (await m.data()).map((r) => -r);
  } finally {
    m.dispose();
  }
}

export async function square(classify: Classifier, x: Tensor, y: Tensor, opts: SquareOptions): Promise<AttackResult> {
  const { threat, queries = 5000, pInit = 0.8, seed = 0, stream = 0 } = opts;
  const op = 'square';
  checkAttack(op, x, y, threat, { queries: [queries, 0] });
  if (!(pInit > 0 && pInit <= 1)) throw new ShapeError(op, `pInit must be in (0, 1], got ${pInit}`);
  if (x.rank !== 4) throw new ShapeError(op, `the Square Attack is defined on images [N,C,H,W], got ${x.describe()}`);
  if (threat.norm !== 'linf')
    throw new ShapeError(op, `the Square Attack here is L-inf only, got the ${threat.norm} threat model`);
  const eps = threat.eps;
  const [n, c, h, w] = x.shape;
  const plane = h * w;
  const row = c * plane;
  const passes = noAttackPasses();
  const rand = hostUniform(seed, stream);
  const sign = () => (rand() < 0.5 ? -1 : 1);
  const x0 = await x.data();
  const labels = await y.ints();
  const box = threat.hostBox(x0);
  const lo = x0.map((v, i) => Math.max(v - eps, box.lo[i]));
  const hi = x0.map((v, i) => Math.min(v + eps, box.hi[i]));
  // Vertical stripes: one sign per (example, channel, column).
  const best = new Float32Array(x0.length);
  for (let e = 0; e < n; e++) {
    for (let ch = 0; ch < c; ch++) {
      for (let col = 0; col < w; col++) {
        const s = sign();
        for (let r = 0; r < h; r++) {
          const i = e * row + ch * plane + r * w + col;
          best[i] = s > 0 ? hi[i] : lo[i];
        }
      }
    }
  }
  const margin = await margins(classify, best, x.shape, labels, passes);
  // Examples misclassified clean are broken from the start and keep x (as the reference does).
  const clean = await predict(classify, x, passes);
  clean.forEach((p, e) => {
    if (p === labels[e]) return;
    margin[e] = 0;
    best.set(x0.subarray(e * row, (e + 1) * row), e * row);
  });
  const loss = Float32Array.from(margin);
  for (let q = 0; q < queries; q++) {
    const active = Array.from(margin.keys()).filter((e) => margin[e] > 0);
    if (!active.length) break;
    const side = Math.max(Math.round(Math.sqrt(squareFraction(q, queries, pInit) * plane)), 1);
    const top = Math.floor(rand() * (h - side));
    const left = Math.floor(rand() * (w - side));
    const signs = Array.from({ length: c }, sign);
    const cand = new Float32Array(active.length * row);
    active.forEach((e, k) => {
      cand.set(best.subarray(e * row, (e + 1) * row), k * row);
      for (let ch = 0; ch < c; ch++) {
        for (let r = top; r < top + side; r++) {
          for (let col = left; col < left + side; col++) {
            const off = ch * plane + r * w + col;
            // best ± 2 eps, clipped to the ball and [0, 1]: the window lands on x ± eps.
            cand[k * row + off] = signs[ch] > 0 ? hi[e * row + off] : lo[e * row + off];
          }
        }
      }
    });
    const mNew = await margins(
      classify,
      cand,
      [active.length, c, h, w],
      Int32Array.from(active, (e) => labels[e]),
      passes,
    );
    active.forEach((e, k) => {
      const improved = mNew[k] < loss[e];
      if (improved) loss[e] = mNew[k];
      if (improved || mNew[k] <= 0) {
        margin[e] = mNew[k];
        best.set(cand.subarray(k * row, (k + 1) * row), e * row);
      }
    });
  }
  return { adv: tensor(best, [...x.shape], { name: 'square_adv' }), correct: Array.from(margin, (v) => v > 0), passes };
}

export default defineAttack({
  name: 'square',
  summary:
    "Square (Andriushchenko et al. 2020): gradient-free random search over square windows, AutoAttack's fourth attack; L-inf, images only",
  options: { queries: QUERIES },
  describe: (o) => ({ title: 'Square', details: [`${o.queries} queries`, 'p_init 0.8'] }),
  unsupported: (s) => (!s.images ? 'defined on images only' : s.threat.norm !== 'linf' ? 'L-inf only here' : null),
  create: (o, env) => (f, x, y) =>
    square(f, x, y, { threat: env.threat, queries: o.queries, seed: env.seed, stream: env.stream }),
});
