// Robustness evaluation: the clean predictions, then every attack run on every example it covers (each batch with
// its own random streams, so any subset of batches is reproducible), an example robust only if correct clean and
// under every attack run on it. The caller chooses the model's mode (eval, for running batch-norm statistics).
import type { Tensor } from '../engine/index.js';
import { uploadRange } from '../data/loader.js';
import type { SplitData } from '../data/dataset.js';
import type { AttackSetting } from './attack.js';
import { attackLimit, createAttack, describeAttack, suiteStages, type ResolvedAttack } from './attack-registry.js';
import { predict, type AttackPasses, type Classifier } from './attacks/index.js';
import { noAttackPasses } from './attacks/types.js';
import { addPasses, noPasses, type PassCounts } from './method.js';
import type { ThreatModel } from './threat.js';

/** Where the examples come from: their count and labels, and a batch of them uploaded (the caller disposes it). */
export interface ExampleSource {
  count: number;
  labels: ArrayLike<number>;
  batch(lo: number, count: number): { x: Tensor; y: Tensor };
  /** Whether the inputs are images [N, C, H, W] (Square and the like apply). */
  images: boolean;
}

/** A model in eval mode (running batch-norm statistics) for `fn`, its mode restored afterwards. */
export async function inEvalMode<T>(
  model: { training: boolean; train(on?: boolean): void; forward(x: Tensor): Tensor },
  fn: (classify: Classifier) => Promise<T>,
): Promise<T> {
  const was = model.training;
  model.train(false);
  try {
    return await fn((x) => model.forward(x));
  } finally {
    model.train(was);
  }
}

/** A dataset split, uploaded a batch at a time (images in [0, 1]). */
export function splitSource(data: SplitData): ExampleSource {
  return {
    count: data.count,
    labels: data.y,
    images: data.shape.length === 3,
    batch: (lo, count) => {
      const { x, y } = uploadRange(data, lo, count, 'test');
      return { x, y };
    },
  };
}

/** A suite stage's figures summed over the batches. */
export interface StageTotals {
  name: string;
  description: string;
  /** Examples it ran on; still robust after it. */
  attacked: number;
  robust: number;
  seconds: number;
  passes: AttackPasses;
}

export interface AttackTotals {
  attack: ResolvedAttack;
  description: string;
  examples: number;
  correct: number;
  seconds: number;
  passes: AttackPasses;
  /** Suites only: after each stage that ran. */
  stages: StageTotals[] | null;
  /** Suites only: the stages skipped here, and why. */
  skipped: { name: string; reason: string }[];
}

export interface RobustReport {
  examples: number;
  cleanCorrect: number;
  attacks: AttackTotals[];
  /** Correct clean and under every attack run on the example. */
  robustCorrect: number;
  /** Per example: correct clean, still correct after each attack (examples an attack did not cover stay 1), robust. */
  correct: { clean: Uint8Array; perAttack: Uint8Array[]; robust: Uint8Array };
  /** Predicted classes clean, and at the first attack point that fooled the model (with `advPredictions`). */
  predictions: { clean: Int32Array; adv: Int32Array | null };
  /** The clean passes and every attack's (and the prediction passes of `advPredictions`). */
  passes: PassCounts;
  seconds: number;
}

export interface EvaluateOptions {
  threat: ThreatModel;
  classes: number;
  batch: number;
  /** Random starts draw from (seed, 1024·batch index + k). */
  seed: number;
  /** Also predict at each attack's points (one forward pass per attack and batch), for `predictions.adv`. */
  advPredictions?: boolean;
  progress?: (done: number, total: number) => void;
}

export async function evaluateRobust(
  classify: Classifier,
  source: ExampleSource,
  attacks: readonly ResolvedAttack[],
  o: EvaluateOptions,
): Promise<RobustReport> {
  const t0 = performance.now();
  const setting: AttackSetting = { threat: o.threat.spec, images: source.images, classes: o.classes };
  const n = source.count;
  const clean = new Int32Array(n);
  const adv = o.advPredictions && attacks.length ? new Int32Array(n) : null;
  const cleanOk = new Uint8Array(n);
  const perAttack = attacks.map(() => new Uint8Array(n).fill(1));
  const robust = new Uint8Array(n);
  const totals: AttackTotals[] = attacks.map((attack) => {
    const stages = suiteStages(attack, setting);
    return {
      attack,
      description: describeAttack(attack, setting),
      examples: 0,
      correct: 0,
      seconds: 0,
      passes: noAttackPasses(),
      stages: attack.descriptor.stages
        ? stages
            .filter((s) => !s.skipped)
            .map((s) => ({
              name: s.stage.descriptor.name,
              description: describeAttack(s.stage, setting),
              attacked: 0,
              robust: 0,
              seconds: 0,
              passes: noAttackPasses(),
            }))
        : null,
      skipped: stages.flatMap((s) => (s.skipped ? [{ name: s.stage.descriptor.name, reason: s.skipped }] : [])),
    };
  });
  const passes = noPasses();
  for (let lo = 0, b = 0; lo < n; lo += o.batch, b++) {
    const count = Math.min(o.batch, n - lo);
    const { x, y } = source.batch(lo, count);
    try {
      const cp = await predict(classify, x, passes);
      clean.set(cp, lo);
      adv?.set(cp, lo);
      for (let i = 0; i < count; i++) robust[lo + i] = cleanOk[lo + i] = cp[i] === source.labels[lo + i] ? 1 : 0;
      for (const [a, attack] of attacks.entries()) {
        const limit = attackLimit(attack);
        const m = limit === null ? count : Math.max(0, Math.min(count, limit - lo));
        if (m === 0) continue;
        const xs = m === count ? x : x.prefix(m);
        const ys = m === count ? y : y.prefix(m);
        const t = totals[a];
        const start = performance.now();
        // Each batch draws its random starts from its own streams.
        const r = await createAttack(
          attack,
          { threat: o.threat, classes: o.classes, seed: o.seed, stream: b * 1024 },
          setting,
        )(classify, xs, ys);
        t.seconds += (performance.now() - start) / 1000;
        addPasses(t.passes, r.passes);
        addPasses(passes, r.passes);
        r.stages?.forEach((st, k) => {
          const into = t.stages![k];
          into.attacked += st.attacked;
          into.robust += st.robust;
          into.seconds += st.seconds;
          addPasses(into.passes, st.passes);
        });
        const ap = adv ? await predict(classify, r.adv, passes) : null;
        r.adv.dispose();
        t.examples += m;
        for (let i = 0; i < m; i++) {
          if (r.correct[i]) t.correct++;
          else if (ap && robust[lo + i]) adv![lo + i] = ap[i]; // the first attack that fools the example names its prediction
          if (!r.correct[i]) robust[lo + i] = perAttack[a][lo + i] = 0;
        }
        if (xs !== x) xs.dispose();
        if (ys !== y) ys.dispose();
      }
    } finally {
      x.dispose();
      y.dispose();
    }
    o.progress?.(lo + count, n);
  }
  return {
    examples: n,
    cleanCorrect: cleanOk.reduce((s, v) => s + v, 0),
    attacks: totals,
    robustCorrect: robust.reduce((s, v) => s + v, 0),
    correct: { clean: cleanOk, perAttack, robust },
    predictions: { clean, adv },
    passes,
    seconds: (performance.now() - t0) / 1000,
  };
}
