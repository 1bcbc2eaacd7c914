// Projected gradient descent in the L-inf ball (Madry et al. 2018) and FGSM, its one-step case: steps of
// stepSize·sign(∇x loss), each projected back onto the eps ball around x and the image range [0, 1].
import { clamp, keep, tidy, type Tensor } from '../../engine/index.js';
import { project, randomStart, signedStep } from './ball.js';
import { checkBatch, checkCount, checkNonNegative } from './check.js';
import { inputGradient, stillCorrect, type AttackLoss } from './model.js';
import { WorstCase } from './restarts.js';
import { noAttackPasses, type AttackPasses, type AttackResult, type Classifier } from './types.js';

export interface PgdRunOptions {
  eps: number;
  stepSize: number;
  steps: number;
  /** Start from a uniform random point of the eps ball (default true), else from x. */
  randomStart?: boolean;
  /** Start from this point, projected onto the set (ATTA's carried perturbation); overrides randomStart. */
  start?: Tensor;
  /** Default 'ce'. */
  loss?: AttackLoss;
  /** The random start draws from (seed, stream) (defaults 0, 0), so a run is reproducible. */
  seed?: number;
  stream?: number;
  /** Ablation for the cost benchmark: attack backward passes also compute (and drop) these tensors' gradients. */
  alsoDifferentiate?: readonly Tensor[];
}

export interface PgdOptions extends PgdRunOptions {
  /** Independent runs (default 1); restart r draws its random start from stream `stream + r`. */
  restarts?: number;
}

function checkRun(op: string, x: Tensor, y: Tensor, o: PgdRunOptions): void {
  checkBatch(op, x, y);
  checkNonNegative(op, 'eps', o.eps);
  checkNonNegative(op, 'stepSize', o.stepSize);
  checkCount(op, 'steps', o.steps, 0);
}

/**
 * One PGD run, without readbacks: for training loops (K-PGD, FGSM with random start). Returns the perturbed batch
 * in the current scope, like an op, and adds its passes (one forward + input-only backward per step) to `passes`.
 */
export function pgdPerturb(classify: Classifier, x: Tensor, y: Tensor, opts: PgdRunOptions, passes: AttackPasses): Tensor {
  checkRun('pgdPerturb', x, y, opts);
  const { eps, stepSize, steps, loss = 'ce' } = opts;
  let xAdv = tidy(() => opts.start ? project(x, opts.start, eps)
    : (opts.randomStart ?? true) ? randomStart(x, eps, opts.seed ?? 0, opts.stream ?? 0) : clamp(x, 0, 1));
  for (let k = 0; k < steps; k++) {
    const next = tidy(() => signedStep(x, xAdv, inputGradient(classify, xAdv, y, loss, passes, false, opts.alsoDifferentiate).grad, stepSize, eps));
    xAdv.dispose();
    xAdv = next;
  }
  return xAdv;
}

/**
 * PGD with restarts, keeping each example's worst case. Each restart ends with one forward pass to see which
 * examples its final point fools; restarts stop early once every example is broken.
 */
export async function pgd(classify: Classifier, x: Tensor, y: Tensor, opts: PgdOptions): Promise<AttackResult> {
  const restarts = opts.restarts ?? 1;
  checkRun('pgd', x, y, opts);
  checkCount('pgd', 'restarts', restarts, 1);
  const labels = await y.ints();
  const passes = noAttackPasses();
  const worst = new WorstCase();
  for (let r = 0; r < restarts; r++) {
    if (r > 0 && worst.allBroken) break;
    const adv = keep(pgdPerturb(classify, x, y, { ...opts, stream: (opts.stream ?? 0) + r }, passes));
    worst.add(adv, await stillCorrect(classify, adv, labels, passes));
  }
  return { ...worst.result(), passes };
}

/** The fast gradient sign method (Goodfellow et al. 2015): x + eps·sign(∇x loss), clipped to [0, 1]. */
export function fgsm(classify: Classifier, x: Tensor, y: Tensor, opts: { eps: number; loss?: AttackLoss }): Promise<AttackResult> {
  return pgd(classify, x, y, { eps: opts.eps, stepSize: opts.eps, steps: 1, randomStart: false, loss: opts.loss });
}
