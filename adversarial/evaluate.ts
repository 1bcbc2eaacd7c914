// Robustness evaluation over a dataset split: BN in eval mode (running statistics never change), every attack
// run on every example it covers, an example robust only if correct clean and under every attack run on it.
import type { Tensor } from '../engine/index.js';
import { uploadRange } from '../nn/data/loader.js';
import type { SplitData } from '../nn/data/cifar.js';
import type { WideResNet } from '../nn/wrn.js';
import { apgdCe, fgsm, pgd, predict, type Attack, type AttackLoss } from './attacks/index.js';
import { noPasses, type PassCounts } from './method.js';
import { fmtPixels } from './units.js';

export const ATTACKS = ['fgsm', 'pgd', 'apgd-ce'] as const;
export type AttackName = (typeof ATTACKS)[number];

export interface AttackSpec {
  name: AttackName;
  eps: number;
  /** pgd, apgd-ce */
  steps: number;
  /** pgd */
  stepSize: number;
  restarts: number;
  /** pgd */
  loss: AttackLoss;
  /** Attack only the first N examples (expensive attacks on a subset); null: all. */
  limit: number | null;
}

export function describeAttack(s: AttackSpec): string {
  const eps = `eps ${fmtPixels(s.eps)}`;
  const sub = s.limit !== null ? `, first ${s.limit} examples` : '';
  switch (s.name) {
    case 'fgsm':
      return `FGSM (${eps}${sub})`;
    case 'pgd':
      return `PGD-${s.steps} (${eps}, step ${fmtPixels(s.stepSize)}, ${s.restarts} restart${s.restarts > 1 ? 's' : ''}, ${s.loss} loss${sub})`;
    case 'apgd-ce':
      return `APGD-CE (${eps}, ${s.steps} iterations, ${s.restarts} restart${s.restarts > 1 ? 's' : ''}${sub})`;
  }
}


export function makeAttack(s: AttackSpec, seed: number, batchIndex: number): Attack {
  // Each batch draws its random starts from its own streams, so any subset of batches is reproducible.
  const stream = batchIndex * 1024;
  switch (s.name) {
    case 'fgsm':
      return (f, x, y) => fgsm(f, x, y, { eps: s.eps, loss: s.loss });
    case 'pgd':
      return (f, x, y) => pgd(f, x, y, { eps: s.eps, stepSize: s.stepSize, steps: s.steps, restarts: s.restarts, loss: s.loss, seed, stream });
    case 'apgd-ce':
      return (f, x, y) => apgdCe(f, x, y, { eps: s.eps, steps: s.steps, restarts: s.restarts, seed, stream });
  }
}

export interface RobustReport {
  examples: number;
  cleanCorrect: number;
  attacks: { spec: AttackSpec; description: string; examples: number; correct: number }[];
  /** Correct clean and under every attack run on the example. */
  robustCorrect: number;
  predictions: { clean: Int32Array; adv: Int32Array | null };
  passes: PassCounts;
  seconds: number;
}

export async function evaluateRobust(model: WideResNet, data: SplitData, specs: readonly AttackSpec[], batch: number, seed: number,
  progress?: (done: number, total: number) => void): Promise<RobustReport> {
  const t0 = performance.now();
  const wasTraining = model.training;
  model.eval();
  const classify = (x: Tensor) => model.forward(x);
  const n = data.count;
  const clean = new Int32Array(n);
  const adv = specs.length ? new Int32Array(n) : null;
  const robust = new Uint8Array(n);
  const perAttack = specs.map((spec) => ({ spec, description: describeAttack(spec), examples: 0, correct: 0 }));
  const passes = noPasses();
  try {
    for (let lo = 0, b = 0; lo < n; lo += batch, b++) {
      const count = Math.min(batch, n - lo);
      const { images: x, labels: y } = uploadRange(data, lo, count, 'test');
      const labels = data.labels.subarray(lo, lo + count);
      const cp = await predict(classify, x, passes);
      clean.set(cp, lo);
      for (let i = 0; i < count; i++) robust[lo + i] = cp[i] === labels[i] ? 1 : 0;
      adv?.set(cp, lo);
      for (const [a, spec] of specs.entries()) {
        const m = spec.limit === null ? count : Math.max(0, Math.min(count, spec.limit - lo));
        if (m === 0) continue;
        const xs = m === count ? x : x.prefix(m);
        const ys = m === count ? y : y.prefix(m);
        const r = await makeAttack(spec, seed, b)(classify, xs, ys);
        passes.forward += r.passes.forward;
        passes.backwardInputOnly += r.passes.backwardInputOnly;
        const ap = await predict(classify, r.adv, passes);
        r.adv.dispose();
        perAttack[a].examples += m;
        for (let i = 0; i < m; i++) {
          if (r.correct[i]) perAttack[a].correct++;
          else if (robust[lo + i]) adv![lo + i] = ap[i]; // the first attack that fools the example names its prediction
          if (!r.correct[i]) robust[lo + i] = 0;
        }
        if (xs !== x) xs.dispose();
        if (ys !== y) ys.dispose();
      }
      x.dispose();
      y.dispose();
      progress?.(lo + count, n);
    }
  } finally {
    model.train(wasTraining);
  }
  return {
    examples: n,
    cleanCorrect: clean.reduce((s, p, i) => s + (p === data.labels[i] ? 1 : 0), 0),
    attacks: perAttack,
    robustCorrect: robust.reduce((s, v) => s + v, 0),
    predictions: { clean, adv },
    passes,
    seconds: (performance.now() - t0) / 1000,
  };
}
