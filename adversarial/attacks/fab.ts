// FAB-T, the targeted Fast Adaptive Boundary attack for L-inf and L2 (Croce & Hein, ICML 2020), as AutoAttack runs it
// (autoattack/fab_base.py attack_single_run and perturb, targeted, one restart without random start): per target
// rank, linearise the decision function f = z_t - z_y at the iterate, project both the iterate and the clean point
// onto the box-constrained hyperplane f = 0, step to a convex combination of the two (biased towards the clean point
// by alpha <= alpha_max) extrapolated by eta, and after each step that fools the model keep the point if it is the
// closest so far and pull the iterate back towards x by beta. A minimum-norm attack: an example counts as broken
// only where its closest fooling point lies within eps. The box is the threat model's (widened to contain x), and
// fixed elements stay put: their gradient is zeroed, so the projections never move them. The projections run on
// the host (one example at a time); the gradients come from the engine, one forward/backward pass of f per
// iteration plus one forward for the labels.
import { ShapeError, tensor, tidy, type Tensor } from '../../engine/index.js';
import { defineAttack } from '../attack.js';
import type { ThreatModel } from '../threat.js';
import { targetsFor } from './apgd-t.js';
import { FAB_STEPS } from './shared-options.js';
import { checkAttack } from './check.js';
import { projectHyperplane } from './fab-projection.js';
import { hostLogits, inputGradient, predict } from './model.js';
import { rankedClasses, Survivors, type Subset } from './survivors.js';
import { noAttackPasses, type AttackPasses, type AttackResult, type Classifier } from './types.js';

export interface FabOptions {
  threat: ThreatModel;
  /** Iterations per target (default 100). */
  steps?: number;
  /** The classes ranked 2..targets+1 by the clean logits (default 9). */
  targets?: number;
  /** Largest weight of the clean point's projection (default 0.1). */
  alphaMax?: number;
  /** Overshoot of the projection step (default 1.05). */
  eta?: number;
  /** Backward step towards x after a fooling iterate (default 0.9). */
  beta?: number;
}

/** f = z_t - z_y and its input gradient at v, on the host: one forward/backward pass. */
async function linearise(
  classify: Classifier,
  v: Tensor,
  s: Subset,
  targets: Tensor,
  passes: AttackPasses,
): Promise<{ f: Float32Array; g: Float32Array }> {
  const { loss, grad } = tidy(() => {
    const r = inputGradient(classify, v, s.y, { loss: 'logit-difference', targets }, passes);
    return { loss: r.loss, grad: r.grad };
  });
  try {
    const [f, g] = await Promise.all([loss.data(), grad.data()]);
    return { f, g };
  } finally {
    loss.dispose();
    grad.dispose();
  }
}

/** One FAB run towards `targets` from the clean points; returns the closest fooling point found within eps. */
async function run(classify: Classifier, s: Subset, targets: Tensor, o: Required<FabOptions>, passes: AttackPasses) {
  const m = s.idx.length;
  const shape = s.x.shape;
  const row = s.xHost.length / m;
  const x0 = s.xHost;
  const { threat } = o;
  const { lo: boxLo, hi: boxHi } = threat.hostBox(x0);
  const fixed = Array.from({ length: row }, (_, j) => !threat.domain.mutable[j]);
  const x1 = Float32Array.from(x0);
  const best = Float32Array.from(x0);
  const dist = new Float64Array(m).fill(Infinity);
  const d1 = new Float64Array(row);
  const d2 = new Float64Array(row);
  for (let it = 0; it < o.steps; it++) {
    const v = tensor(x1, shape, { name: 'fab_iterate' });
    const { f, g } = await linearise(classify, v, s, targets, passes).finally(() => v.dispose());
    for (let e = 0; e < m; e++) {
      const lo = e * row;
      const w = g.subarray(lo, lo + row);
      w.forEach((_, j) => fixed[j] && (w[j] = 0));
      const cur = x1.subarray(lo, lo + row);
      const [bLo, bHi] = [boxLo.subarray(lo, lo + row), boxHi.subarray(lo, lo + row)];
      // The hyperplane f(x1) + w·(v - x1) = 0, i.e. w·v = w·x1 - f(x1).
      let b = -f[e];
      for (let i = 0; i < row; i++) b += w[i] * cur[i];
      const a1 = Math.max(projectHyperplane(threat.norm, cur, w, b, bLo, bHi, d1), 1e-8);
      const a2 = Math.max(projectHyperplane(threat.norm, x0.subarray(lo, lo + row), w, b, bLo, bHi, d2), 1e-8);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), o.alphaMax);
      for (let i = 0; i < row; i++) {
        const next = (cur[i] + o.eta * d1[i]) * (1 - alpha) + (x0[lo + i] + o.eta * d2[i]) * alpha;
        cur[i] = Math.min(Math.max(next, bLo[i]), bHi[i]);
      }
    }
    const u = tensor(x1, shape, { name: 'fab_iterate' });
    const pred = await predict(classify, u, passes).finally(() => u.dispose());
    for (let e = 0; e < m; e++) {
      if (pred[e] === s.labels[e]) continue;
      const lo = e * row;
      const norm = threat.distance(x1, x0, lo);
      if (norm < dist[e]) {
        dist[e] = norm;
        best.set(x1.subarray(lo, lo + row), lo);
      }
      for (let i = 0; i < row; i++) x1[lo + i] = x0[lo + i] + (x1[lo + i] - x0[lo + i]) * o.beta;
    }
  }
  // Outside the eps ball a fooling point does not count; the example keeps its clean row.
  const correct = Array.from(dist, (d) => !(d <= threat.eps));
  correct.forEach((c, e) => {
    if (c) best.set(x0.subarray(e * row, (e + 1) * row), e * row);
  });
  return { adv: best, correct };
}

/**
 * FAB-T: for the target ranks r = 2..targets+1, one FAB run towards each example's class of rank r in the clean
 * logits, on the examples still robust (misclassified clean examples are broken from the start, as in the reference).
 */
export async function fabTargeted(classify: Classifier, x: Tensor, y: Tensor, opts: FabOptions): Promise<AttackResult> {
  const o: Required<FabOptions> = { steps: 100, targets: 9, alphaMax: 0.1, eta: 1.05, beta: 0.9, ...opts };
  const op = 'fabTargeted';
  checkAttack(op, x, y, o.threat, { steps: [o.steps, 0], targets: [o.targets, 1] });
  const passes = noAttackPasses();
  const logits = await hostLogits(classify, x, passes);
  const n = x.shape[0];
  const k = logits.length / n;
  const labels = await y.ints();
  if (k < o.targets + 1)
    throw new ShapeError(op, `${o.targets} targets need at least ${o.targets + 1} classes; the model has ${k}`);
  const cleanCorrect = Array.from(labels, (l, i) => rankedClasses(logits, k, [i], 1)[0] === l);
  const survivors = new Survivors(await x.data(), x.shape, labels, cleanCorrect);
  for (let rank = 2; rank <= o.targets + 1; rank++) {
    await survivors.run(async (s) => {
      const passesRun = noAttackPasses();
      const t = tensor(rankedClasses(logits, k, s.idx, rank), [s.idx.length], { name: 'fab_targets' });
      try {
        return { ...(await run(classify, s, t, o, passesRun)), passes: passesRun };
      } finally {
        t.dispose();
      }
    }, passes);
  }
  return { ...survivors.result(), passes };
}

export default defineAttack({
  name: 'fab-t',
  summary:
    "FAB-T (Croce & Hein 2020): targeted minimum-norm boundary attack towards each of the 9 next-ranked classes, AutoAttack's third attack",
  options: { fabSteps: FAB_STEPS },
  describe: (o, s) => ({ title: 'FAB-T', details: [`${targetsFor(s.classes)} targets x ${o.fabSteps} iterations`] }),
  unsupported: (s) => (s.classes < 2 ? `it needs at least 2 classes, the model has ${s.classes}` : null),
  create: (o, env) => (f, x, y) =>
    fabTargeted(f, x, y, { threat: env.threat, steps: o.fabSteps, targets: targetsFor(env.classes) }),
});
