// APGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks"): APGD-CE and APGD-DLR (untargeted), and APGD-T (targeted DLR towards the classes ranked
// 2..10 by the clean logits, each target on the examples still robust), the first two attacks of AutoAttack, all
// one iteration scheme over a per-example loss: steepest-ascent steps (signed gradient for L-inf, the gradient
// normalised per example for L2, as autopgd_base.py's L2 version) with momentum and a step size
// per example that starts at 2·eps and halves at a checkpoint where that example's progress stalled, sending it
// back to its best point. The per-example bookkeeping runs on the host from one readback per iteration (the
// loss and the predictions of the forward pass that also gives the next gradient).
// Where the paper and the reference code (autoattack/autopgd_base.py) differ, this follows the paper: condition 1
// is a strict "<" (the code: "<="); the first increase counted is against the start's loss (the code compares
// with 0); condition 2 may hold at the first checkpoint (the code never lets it).
import { add, axpby, keep, mul, scale, ShapeError, sub, tensor, tidy, type Tensor } from '../../engine/index.js';
import type { AttackEnv, AttackText } from '../attack.js';
import type { ThreatModel } from '../threat.js';
import { apgdCheckpoints } from './apgd-schedule.js';
import { checkAttack } from './check.js';
import { hostLogits, inputGradient, type Objective } from './model.js';
import { WorstCase } from './restarts.js';
import { assignRows, rowTensor, selectRows } from './rows.js';
import { APGD_LIMIT, APGD_STEPS, RESTARTS, restartsText } from './shared-options.js';
import { rankedClasses, Survivors } from './survivors.js';
import { noAttackPasses, type Attack, type AttackPasses, type AttackResult, type Classifier } from './types.js';

/** Weight of the new step against the previous one (the paper's alpha). */
const ALPHA = 0.75;
/** Condition 1: the step halves when the loss rose in fewer than this fraction of the iterations since the last checkpoint. */
const RHO = 0.75;

export interface ApgdOptions {
  threat: ThreatModel;
  /** Iterations per restart (default 100). */
  steps?: number;
  /** Default 1; restart r draws its random start from stream `stream + r`. */
  restarts?: number;
  /** 'ce' (default) or 'dlr'. */
  loss?: 'ce' | 'dlr';
  seed?: number;
  stream?: number;
}

export interface ApgdTargetedOptions {
  threat: ThreatModel;
  /** Iterations per target (default 100, one restart each). */
  steps?: number;
  /** The classes ranked 2..targets+1 by the clean logits (default 9, AutoAttack's). */
  targets?: number;
  /** Target rank r draws its random start from stream `stream + r`. */
  seed?: number;
  stream?: number;
}

const kept = (f: () => Tensor): Tensor => keep(tidy(f));

/**
 * z = P(x_k + η·dir(g)); x_{k+1} = P(x_k + α(z − x_k) + (1 − α)(x_k − x_{k−1})), without momentum on the first
 * step; dir is sign (L-inf) or g/‖g‖₂ (L2) and P the threat model's projection.
 */
function step(
  threat: ThreatModel,
  x: Tensor,
  xAdv: Tensor,
  xOld: Tensor | null,
  grad: Tensor,
  stepSize: Tensor,
): Tensor {
  const z = threat.project(x, add(xAdv, mul(stepSize, threat.direction(grad))));
  if (!xOld) return z;
  return threat.project(x, add(xAdv, axpby(ALPHA, sub(z, xAdv), 1 - ALPHA, sub(xAdv, xOld))));
}

/** What every iteration of a run needs. */
interface Target {
  classify: Classifier;
  x: Tensor;
  y: Tensor;
  /** y on the host. */
  labels: Int32Array;
  loss: Objective;
  threat: ThreatModel;
  passes: AttackPasses;
}

interface Evaluation {
  /** Kept: the caller disposes it. */
  grad: Tensor;
  loss: Float32Array;
  fooled: boolean[];
}

/** The loss, gradient and predictions at p: one forward/backward pass and one readback (two reads, one wait). */
async function evaluate(t: Target, p: Tensor): Promise<Evaluation> {
  const g = inputGradient(t.classify, p, t.y, t.loss, t.passes, { predict: true });
  const grad = keep(g.grad);
  const lossT = keep(g.loss);
  try {
    const [loss, pred] = await Promise.all([lossT.data(), g.pred!.ints()]);
    return { grad, loss, fooled: Array.from(t.labels, (label, i) => pred[i] !== label) };
  } finally {
    lossT.dispose();
    g.pred!.dispose();
  }
}

/** One restart. Returns, per example, a fooling iterate if any iterate fooled the model, else its highest-loss point. */
async function run(
  t: Target,
  steps: number,
  seed: number,
  stream: number,
): Promise<{ adv: Tensor; correct: boolean[] }> {
  const { x, threat } = t;
  const n = t.labels.length;
  const checkpoints = apgdCheckpoints(steps);
  let xAdv = kept(() => threat.randomStart(x, seed, stream));
  let xOld: Tensor | null = null;
  let { grad, loss, fooled } = await evaluate(t, xAdv);
  const correct = fooled.map((f) => !f);
  let xFooling = kept(() => scale(xAdv, 1));
  let xBest = kept(() => scale(xAdv, 1));
  let gradBest = kept(() => scale(grad, 1));
  const lossBest = Float32Array.from(loss);
  const stepSize = new Array<number>(n).fill(2 * threat.eps);
  let stepT = kept(() => rowTensor(stepSize, x.shape, 'apgd_step'));
  // Since the last checkpoint: the loss increases, and the state at that checkpoint.
  const increases = new Array<number>(n).fill(0);
  let lossBestAtCheck = Float32Array.from(lossBest);
  let halvedAtCheck = new Array<boolean>(n).fill(false);
  let lastCheck = 0;
  let nextCheck = 0;
  for (let i = 0; i < steps; i++) {
    const xNew = kept(() => step(threat, x, xAdv, xOld, grad, stepT));
    xOld?.dispose();
    xOld = xAdv;
    xAdv = xNew;
    grad.dispose();
    const prevLoss = loss;
    ({ grad, loss, fooled } = await evaluate(t, xAdv));
    const improved = Array.from(loss, (l, e) => l > lossBest[e]);
    xFooling = assignRows(xFooling, fooled, xAdv);
    xBest = assignRows(xBest, improved, xAdv);
    gradBest = assignRows(gradBest, improved, grad);
    for (let e = 0; e < n; e++) {
      if (fooled[e]) correct[e] = false;
      if (improved[e]) lossBest[e] = loss[e];
      if (loss[e] > prevLoss[e]) increases[e]++;
    }
    if (i + 1 !== checkpoints[nextCheck]) continue;
    const since = i + 1 - lastCheck;
    const halve = Array.from(
      { length: n },
      (_, e) => increases[e] < RHO * since || (!halvedAtCheck[e] && lossBestAtCheck[e] >= lossBest[e]),
    );
    if (halve.some(Boolean)) {
      for (let e = 0; e < n; e++) if (halve[e]) stepSize[e] /= 2;
      stepT.dispose();
      stepT = kept(() => rowTensor(stepSize, x.shape, 'apgd_step'));
      xAdv = assignRows(xAdv, halve, xBest);
      grad = assignRows(grad, halve, gradBest);
    }
    halvedAtCheck = halve;
    lossBestAtCheck = Float32Array.from(lossBest);
    increases.fill(0);
    lastCheck = i + 1;
    nextCheck++;
  }
  const adv = kept(() => selectRows(correct, xBest, xFooling));
  for (const s of [xAdv, xOld, grad, xFooling, xBest, gradBest, stepT]) s?.dispose();
  return { adv, correct };
}

/** APGD with restarts, keeping each example's worst case; restarts stop early once every example is broken. */
export async function apgd(classify: Classifier, x: Tensor, y: Tensor, opts: ApgdOptions): Promise<AttackResult> {
  const { threat, steps = 100, restarts = 1, loss = 'ce', seed = 0, stream = 0 } = opts;
  const op = loss === 'ce' ? 'apgdCe' : 'apgdDlr';
  checkAttack(op, x, y, threat, { steps: [steps, 0], restarts: [restarts, 1] });
  const target: Target = { classify, x, y, labels: await y.ints(), loss, threat, passes: noAttackPasses() };
  const worst = new WorstCase();
  for (let r = 0; r < restarts; r++) {
    if (r > 0 && worst.allBroken) break;
    const { adv, correct } = await run(target, steps, seed, stream + r);
    worst.add(adv, correct);
  }
  return { ...worst.result(), passes: target.passes };
}

/** APGD-CE, AutoAttack's first attack. */
export const apgdCe = (
  classify: Classifier,
  x: Tensor,
  y: Tensor,
  opts: Omit<ApgdOptions, 'loss'>,
): Promise<AttackResult> => apgd(classify, x, y, { ...opts, loss: 'ce' });

/**
 * APGD-T: for the target ranks r = 2..targets+1, one restart of targeted-DLR APGD towards each example's class of
 * rank r in the clean logits, run only on the examples no earlier target fooled (AutoAttack's second attack).
 */
export async function apgdTargeted(
  classify: Classifier,
  x: Tensor,
  y: Tensor,
  opts: ApgdTargetedOptions,
): Promise<AttackResult> {
  const { threat, steps = 100, targets = 9, seed = 0, stream = 0 } = opts;
  const op = 'apgdTargeted';
  checkAttack(op, x, y, threat, { steps: [steps, 0], targets: [targets, 1] });
  const passes = noAttackPasses();
  const logits = await hostLogits(classify, x, passes);
  const k = logits.length / x.shape[0];
  if (k < Math.max(4, targets + 1)) {
    throw new ShapeError(
      op,
      `${targets} targets and targeted DLR need at least ${Math.max(4, targets + 1)} classes; the model has ${k}`,
    );
  }
  const survivors = await Survivors.of(x, y);
  for (let rank = 2; rank <= targets + 1; rank++) {
    await survivors.run(async (s) => {
      const t = tensor(rankedClasses(logits, k, s.idx, rank), [s.idx.length], { name: 'apgd_targets' });
      try {
        const target: Target = {
          classify,
          x: s.x,
          y: s.y,
          labels: s.labels,
          loss: { loss: 'dlr-targeted', targets: t },
          threat,
          passes: noAttackPasses(),
        };
        const r = await run(target, steps, seed, stream + rank);
        return { ...r, passes: target.passes };
      } finally {
        t.dispose();
      }
    }, passes);
  }
  return { ...survivors.result(), passes };
}

/** The options of the untargeted APGD attacks (apgd-ce, apgd-dlr). */
export const APGD_OPTIONS = { apgdSteps: APGD_STEPS, restarts: RESTARTS, apgdLimit: APGD_LIMIT };

/** 'APGD-CE (eps 8/255, 100 iterations, 1 restart)'. */
export const apgdText = (title: string, o: { apgdSteps: number; restarts: number }): AttackText => ({
  title,
  details: [`${o.apgdSteps} iterations`, restartsText(o.restarts)],
});

/** An untargeted APGD attack with its options bound. */
export const apgdAttack =
  (loss: 'ce' | 'dlr', o: { apgdSteps: number; restarts: number }, env: AttackEnv): Attack =>
  (f, x, y) =>
    apgd(f, x, y, {
      threat: env.threat,
      steps: o.apgdSteps,
      restarts: o.restarts,
      loss,
      seed: env.seed,
      stream: env.stream,
    });
