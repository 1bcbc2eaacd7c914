// APGD-CE (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks"), the first attack of AutoAttack: signed-gradient steps with momentum and a step size
// per example that starts at 2·eps and halves at a checkpoint where that example's progress stalled, sending it
// back to its best point. The per-example bookkeeping runs on the host from one readback per iteration (the
// loss and the predictions of the forward pass that also gives the next gradient).
// Where the paper and the reference code (autoattack/autopgd_base.py) differ, this follows the paper: condition 1
// is a strict "<" (the code: "<="); the first increase counted is against the start's loss (the code compares
// with 0); condition 2 may hold at the first checkpoint (the code never lets it).
import { add, axpby, keep, mul, scale, sign, sub, tidy, type Tensor } from '../../engine/index.js';
import { apgdCheckpoints } from './apgd-schedule.js';
import { project, randomStart } from './ball.js';
import { checkBatch, checkCount, checkNonNegative } from './check.js';
import { inputGradient } from './model.js';
import { WorstCase } from './restarts.js';
import { assignRows, rowTensor, selectRows } from './rows.js';
import { noAttackPasses, type AttackPasses, type AttackResult, type Classifier } from './types.js';

/** Weight of the new step against the previous one (the paper's alpha). */
const ALPHA = 0.75;
/** Condition 1: the step halves when the loss rose in fewer than this fraction of the iterations since the last checkpoint. */
const RHO = 0.75;

export interface ApgdOptions {
  eps: number;
  /** Iterations per restart (default 100). */
  steps?: number;
  /** Default 1; restart r draws its random start from stream `stream + r`. */
  restarts?: number;
  seed?: number;
  stream?: number;
}

const kept = (f: () => Tensor): Tensor => keep(tidy(f));

/** z = P(x_k + η·sign(g)); x_{k+1} = P(x_k + α(z − x_k) + (1 − α)(x_k − x_{k−1})), without momentum on the first step. */
function step(x: Tensor, xAdv: Tensor, xOld: Tensor | null, grad: Tensor, stepSize: Tensor, eps: number): Tensor {
  const z = project(x, add(xAdv, mul(stepSize, sign(grad))), eps);
  if (!xOld) return z;
  return project(x, add(xAdv, axpby(ALPHA, sub(z, xAdv), 1 - ALPHA, sub(xAdv, xOld))), eps);
}

/** What every iteration of a run needs. */
interface Target {
  classify: Classifier;
  x: Tensor;
  y: Tensor;
  /** y on the host. */
  labels: Int32Array;
  eps: number;
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
  const g = inputGradient(t.classify, p, t.y, 'ce', t.passes, true);
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
async function run(t: Target, steps: number, seed: number, stream: number): Promise<{ adv: Tensor; correct: boolean[] }> {
  const { x, eps } = t;
  const n = t.labels.length;
  const checkpoints = apgdCheckpoints(steps);
  let xAdv = kept(() => randomStart(x, eps, seed, stream));
  let xOld: Tensor | null = null;
  let { grad, loss, fooled } = await evaluate(t, xAdv);
  const correct = fooled.map((f) => !f);
  let xFooling = kept(() => scale(xAdv, 1));
  let xBest = kept(() => scale(xAdv, 1));
  let gradBest = kept(() => scale(grad, 1));
  const lossBest = Float32Array.from(loss);
  const stepSize = new Array<number>(n).fill(2 * eps);
  let stepT = kept(() => rowTensor(stepSize, x.shape, 'apgd_step'));
  // Since the last checkpoint: the loss increases, and the state at that checkpoint.
  const increases = new Array<number>(n).fill(0);
  let lossBestAtCheck = Float32Array.from(lossBest);
  let halvedAtCheck = new Array<boolean>(n).fill(false);
  let lastCheck = 0;
  let nextCheck = 0;
  for (let i = 0; i < steps; i++) {
    const xNew = kept(() => step(x, xAdv, xOld, grad, stepT, eps));
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
    const halve = Array.from({ length: n }, (_, e) =>
      increases[e] < RHO * since || (!halvedAtCheck[e] && lossBestAtCheck[e] >= lossBest[e]));
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

/** APGD-CE with restarts, keeping each example's worst case; restarts stop early once every example is broken. */
export async function apgdCe(classify: Classifier, x: Tensor, y: Tensor, opts: ApgdOptions): Promise<AttackResult> {
  const { eps, steps = 100, restarts = 1, seed = 0, stream = 0 } = opts;
  checkBatch('apgdCe', x, y);
  checkNonNegative('apgdCe', 'eps', eps);
  checkCount('apgdCe', 'steps', steps, 0);
  checkCount('apgdCe', 'restarts', restarts, 1);
  const target: Target = { classify, x, y, labels: await y.ints(), eps, passes: noAttackPasses() };
  const worst = new WorstCase();
  for (let r = 0; r < restarts; r++) {
    if (r > 0 && worst.allBroken) break;
    const { adv, correct } = await run(target, steps, seed, stream + r);
    worst.add(adv, correct);
  }
  return { ...worst.result(), passes: target.passes };
}
