// Projected gradient descent (Madry et al. 2018): steepest-ascent steps of the loss in the threat model's norm
// (stepSize·sign(∇x loss) for L-inf, stepSize·∇x loss/‖∇x loss‖₂ for L2), each projected back onto the threat
// model (the eps ball around x, the box, the mask).
import { keep, tidy, type Tensor } from '../../engine/index.js';
import { defineAttack } from '../attack.js';
import { formatOption, type NumberOption } from '../options.js';
import type { ThreatModel } from '../threat.js';
import { checkBatch, checkCount, checkNonNegative } from './check.js';
import { inputGradient, stillCorrect, type AttackLoss } from './model.js';
import { WorstCase } from './restarts.js';
import { LOSS, RESTARTS, restartsText } from './shared-options.js';
import { noAttackPasses, type AttackPasses, type AttackResult, type Classifier } from './types.js';

export interface PgdRunOptions {
  threat: ThreatModel;
  stepSize: number;
  steps: number;
  /** Start from a random point of the threat model (ThreatModel.randomStart; default true), else from x. */
  randomStart?: boolean;
  /** Start from this point, projected onto the threat model (ATTA's carried perturbation); overrides randomStart. */
  start?: Tensor;
  /** Default 'ce'. */
  loss?: AttackLoss;
  /** The random start draws from (seed, stream) (defaults 0, 0), so a run is reproducible. */
  seed?: number;
  stream?: number;
  /** Ablation for the cost benchmark: attack backward passes also compute (and drop) these tensors' gradients. */
  alsoDifferentiate?: readonly Tensor[];
  /** Wong et al.'s MNIST PGD: an example the model misclassifies at a step's point takes no step there. */
  onlyCorrect?: boolean;
}

export interface PgdOptions extends PgdRunOptions {
  /** Independent runs (default 1); restart r draws its random start from stream `stream + r`. */
  restarts?: number;
}

function checkRun(op: string, x: Tensor, y: Tensor, o: PgdRunOptions): void {
  checkBatch(op, x, y, o.threat);
  checkNonNegative(op, 'stepSize', o.stepSize);
  checkCount(op, 'steps', o.steps, 0);
}

/**
 * One PGD run, without readbacks: for training loops (K-PGD, FGSM with random start). Returns the perturbed batch
 * in the current scope, like an op, and adds its passes (one forward + input-only backward per step) to `passes`.
 */
export function pgdPerturb(
  classify: Classifier,
  x: Tensor,
  y: Tensor,
  opts: PgdRunOptions,
  passes: AttackPasses,
): Tensor {
  checkRun('pgdPerturb', x, y, opts);
  const { threat, stepSize, steps, loss = 'ce' } = opts;
  let xAdv = tidy(() =>
    opts.start
      ? threat.project(x, opts.start)
      : (opts.randomStart ?? true)
        ? threat.randomStart(x, opts.seed ?? 0, opts.stream ?? 0)
        : threat.project(x, x),
  );
  for (let k = 0; k < steps; k++) {
    const next = tidy(() => {
      const g = inputGradient(classify, xAdv, y, loss, passes, {
        alsoDifferentiate: opts.alsoDifferentiate,
        correct: opts.onlyCorrect,
      });
      try {
        return threat.step(x, xAdv, g.grad, stepSize, threat.eps, g.correct ?? undefined);
      } finally {
        g.correct?.dispose();
      }
    });
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

const STEP_SIZE: NumberOption = {
  kind: 'pixels',
  min: 0,
  max: 1,
  default: (_, t) => t.eps / 4,
  defaultText: 'eps/4',
  help: 'step size (2/255 at eps 8/255)',
};

export default defineAttack({
  name: 'pgd',
  summary: 'PGD (Madry et al. 2018): K steepest-ascent steps from a random start, each projected onto the threat model',
  options: {
    steps: { kind: 'int', min: 1, max: 10_000, default: 20, help: 'PGD steps' },
    stepSize: STEP_SIZE,
    restarts: RESTARTS,
    loss: LOSS,
  },
  describe: (o) => ({
    title: `PGD-${o.steps}`,
    details: [`step ${formatOption(STEP_SIZE, o.stepSize)}`, restartsText(o.restarts), `${o.loss} loss`],
  }),
  create: (o, env) => (f, x, y) =>
    pgd(f, x, y, {
      threat: env.threat,
      stepSize: o.stepSize,
      steps: o.steps,
      restarts: o.restarts,
      loss: o.loss as AttackLoss,
      seed: env.seed,
      stream: env.stream,
    }),
});
