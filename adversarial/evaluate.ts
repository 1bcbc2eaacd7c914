// Robustness evaluation over a dataset split: BN in eval mode (running statistics never change), every attack
// run on every example it covers, an example robust only if correct clean and under every attack run on it.
import type { Tensor } from '../engine/index.js';
import { uploadRange } from '../data/loader.js';
import type { SplitData } from '../data/dataset.js';
import type { Classifier } from '../nn/model.js';
import {
  apgd, apgdTargeted, fabTargeted, fgsm, pgd, predict, runStages, square, type Attack, type AttackLoss, type AttackPasses, type Stage,
} from './attacks/index.js';
import { noPasses, type PassCounts } from './method.js';
import { fmtPixels } from './units.js';

export const ATTACKS = ['fgsm', 'pgd', 'apgd-ce', 'apgd-dlr', 'apgd-t', 'fab-t', 'square', 'autoattack', 'aa-lite'] as const;
export type AttackName = (typeof ATTACKS)[number];

/** The suites: their stages in order, each run on the examples the earlier ones left robust. */
export const SUITES: Partial<Record<AttackName, readonly AttackName[]>> = {
  autoattack: ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
  'aa-lite': ['apgd-ce', 'apgd-t'],
};

export const SQUARE_QUERIES = 5000;

export interface AttackSpec {
  name: AttackName;
  eps: number;
  /** pgd, apgd-ce, apgd-dlr (autoattack's stages always run AutoAttack's 100) */
  steps: number;
  /** pgd */
  stepSize: number;
  /** pgd, apgd-ce, apgd-dlr (autoattack's stages: 1) */
  restarts: number;
  /** pgd, fgsm */
  loss: AttackLoss;
  /** square (and autoattack's square stage); default 5000, AutoAttack's */
  queries?: number;
  /** Attack only the first N examples (expensive attacks on a subset); null: all. */
  limit: number | null;
}

const restartsText = (r: number) => `${r} restart${r > 1 ? 's' : ''}`;

export function describeAttack(s: AttackSpec): string {
  const eps = `eps ${fmtPixels(s.eps)}`;
  const sub = s.limit !== null ? `, first ${s.limit} examples` : '';
  switch (s.name) {
    case 'fgsm':
      return `FGSM (${eps}${sub})`;
    case 'pgd':
      return `PGD-${s.steps} (${eps}, step ${fmtPixels(s.stepSize)}, ${restartsText(s.restarts)}, ${s.loss} loss${sub})`;
    case 'apgd-ce':
    case 'apgd-dlr':
      return `${s.name.toUpperCase()} (${eps}, ${s.steps} iterations, ${restartsText(s.restarts)}${sub})`;
    case 'apgd-t':
      return `APGD-T (${eps}, targeted DLR, 9 targets x 100 iterations${sub})`;
    case 'fab-t':
      return `FAB-T (${eps}, 9 targets x 100 iterations${sub})`;
    case 'square':
      return `Square (${eps}, ${s.queries ?? SQUARE_QUERIES} queries, p_init 0.8${sub})`;
    case 'autoattack':
      return `AutoAttack, standard (${eps}: APGD-CE, APGD-T, FAB-T, Square ${s.queries ?? SQUARE_QUERIES} queries${sub})`;
    case 'aa-lite':
      return `AutoAttack-lite, not the standard suite (${eps}: APGD-CE, APGD-T${sub})`;
  }
}

/** A suite's stage: AutoAttack's standard parameters (100 iterations, 1 restart), the spec's eps and queries. */
const stageSpec = (s: AttackSpec, name: AttackName): AttackSpec => ({ ...s, name, steps: 100, restarts: 1 });

export function makeAttack(s: AttackSpec, seed: number, batchIndex: number): Attack {
  // Each batch draws its random starts from its own streams, so any subset of batches is reproducible.
  const stream = batchIndex * 1024;
  const suite = SUITES[s.name];
  if (suite) {
    const stages: Stage[] = suite.map((name) => ({ name, attack: makeAttack(stageSpec(s, name), seed, batchIndex) }));
    return (f, x, y) => runStages(f, x, y, stages);
  }
  switch (s.name) {
    case 'fgsm':
      return (f, x, y) => fgsm(f, x, y, { eps: s.eps, loss: s.loss });
    case 'pgd':
      return (f, x, y) => pgd(f, x, y, { eps: s.eps, stepSize: s.stepSize, steps: s.steps, restarts: s.restarts, loss: s.loss, seed, stream });
    case 'apgd-ce':
    case 'apgd-dlr':
      return (f, x, y) => apgd(f, x, y, { eps: s.eps, steps: s.steps, restarts: s.restarts, loss: s.name === 'apgd-ce' ? 'ce' : 'dlr', seed, stream });
    case 'apgd-t':
      return (f, x, y) => apgdTargeted(f, x, y, { eps: s.eps, seed, stream });
    case 'fab-t':
      return (f, x, y) => fabTargeted(f, x, y, { eps: s.eps });
    case 'square':
      return (f, x, y) => square(f, x, y, { eps: s.eps, queries: s.queries ?? SQUARE_QUERIES, seed, stream });
    default:
      throw new Error(`advfree: makeAttack: no attack '${s.name}'`);
  }
}

/** A suite stage's figures summed over the batches. */
export interface StageTotals {
  name: AttackName;
  description: string;
  /** Examples it ran on; still robust after it. */
  attacked: number;
  robust: number;
  seconds: number;
  passes: AttackPasses;
}

export interface AttackTotals {
  spec: AttackSpec;
  description: string;
  examples: number;
  correct: number;
  seconds: number;
  passes: AttackPasses;
  /** Suites only: after each stage. */
  stages: StageTotals[] | null;
}

export interface RobustReport {
  examples: number;
  cleanCorrect: number;
  attacks: AttackTotals[];
  /** Correct clean and under every attack run on the example. */
  robustCorrect: number;
  predictions: { clean: Int32Array; adv: Int32Array | null };
  passes: PassCounts;
  seconds: number;
}

function addPasses(into: AttackPasses, p: AttackPasses): void {
  into.forward += p.forward;
  into.backwardInputOnly += p.backwardInputOnly;
}

export async function evaluateRobust(model: Classifier, data: SplitData, specs: readonly AttackSpec[], batch: number, seed: number,
  progress?: (done: number, total: number) => void): Promise<RobustReport> {
  const t0 = performance.now();
  const wasTraining = model.training;
  model.eval();
  const classify = (x: Tensor) => model.forward(x);
  const n = data.count;
  const clean = new Int32Array(n);
  const adv = specs.length ? new Int32Array(n) : null;
  const robust = new Uint8Array(n);
  const perAttack: AttackTotals[] = specs.map((spec) => ({
    spec, description: describeAttack(spec), examples: 0, correct: 0, seconds: 0, passes: { forward: 0, backwardInputOnly: 0 },
    stages: SUITES[spec.name]?.map((name) => ({
      name, description: describeAttack(stageSpec(spec, name)), attacked: 0, robust: 0, seconds: 0, passes: { forward: 0, backwardInputOnly: 0 },
    })) ?? null,
  }));
  const passes = noPasses();
  try {
    for (let lo = 0, b = 0; lo < n; lo += batch, b++) {
      const count = Math.min(batch, n - lo);
      const { x, y } = uploadRange(data, lo, count, 'test');
      const labels = data.y.subarray(lo, lo + count);
      const cp = await predict(classify, x, passes);
      clean.set(cp, lo);
      for (let i = 0; i < count; i++) robust[lo + i] = cp[i] === labels[i] ? 1 : 0;
      adv?.set(cp, lo);
      for (const [a, spec] of specs.entries()) {
        const m = spec.limit === null ? count : Math.max(0, Math.min(count, spec.limit - lo));
        if (m === 0) continue;
        const xs = m === count ? x : x.prefix(m);
        const ys = m === count ? y : y.prefix(m);
        const t0 = performance.now();
        const r = await makeAttack(spec, seed, b)(classify, xs, ys);
        const totals = perAttack[a];
        totals.seconds += (performance.now() - t0) / 1000;
        addPasses(totals.passes, r.passes);
        addPasses(passes, r.passes);
        r.stages?.forEach((st, k) => {
          const into = totals.stages![k];
          into.attacked += st.attacked;
          into.robust += st.robust;
          into.seconds += st.seconds;
          addPasses(into.passes, st.passes);
        });
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
    cleanCorrect: clean.reduce((s, p, i) => s + (p === data.y[i] ? 1 : 0), 0),
    attacks: perAttack,
    robustCorrect: robust.reduce((s, v) => s + v, 0),
    predictions: { clean, adv },
    passes,
    seconds: (performance.now() - t0) / 1000,
  };
}
