// Adversarial training on attacked batches, shared by K-PGD and FGSM-RS: a PGD attack from a random start (the
// forward passes go through the counted model, input-only backward passes), then one update on the adversarial
// batch. Attack steps ask for the input gradient only, so they dispatch no weight-gradient kernel.
import { tensor, tidy, type Tensor } from '../../engine/index.js';
import { pgd, pgdPerturb } from '../attacks/pgd.js';
import { noAttackPasses } from '../attacks/types.js';
import type { Method, ProbeContext, ProbeValues, StepContext, StepResult, TrainModel } from '../method.js';
import { lossAccuracy, successiveCosines } from '../probes.js';
import type { ThreatModel } from '../threat.js';
import { crossEntropyUpdate } from './common.js';

export interface AttackTrainOptions {
  threat: ThreatModel;
  stepSize: number;
  steps: number;
  /** 'train': batch statistics, running statistics untouched (Madry's code); 'eval': running statistics. */
  attackBn: string;
  seed: number;
  /** Stop when PGD accuracy on a held training batch falls this far below its best (null: off). */
  guardDrop: number | null;
  /** Ablation for the cost benchmark: attack steps also compute every weight gradient (and drop it). */
  fullAttackBackward: boolean;
  /** Wong et al.'s MNIST PGD: an example already misclassified takes no further attack step (default off). */
  onlyCorrect?: boolean;
}

export class AttackTraining implements Method {
  /** The guard's best accuracy so far (-1: none yet), a tensor so that it is saved with the training state. */
  private readonly bestGuard: Tensor | null;

  constructor(readonly opts: AttackTrainOptions) {
    this.bestGuard = opts.guardDrop === null ? null : tensor(Float32Array.of(-1), [1], { name: 'guard best' });
  }

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { model } = ctx;
    const o = this.opts;
    return tidy(() => {
      if (o.attackBn === 'eval') model.eval();
      else model.freezeBatchNorm(true);
      let xAdv: Tensor;
      try {
        // The random start draws from stream `step`, so a resumed run attacks exactly as the original did.
        const alsoDifferentiate = o.fullAttackBackward ? ctx.weights() : undefined;
        xAdv = pgdPerturb(
          (v) => model.forward(v),
          x,
          y,
          {
            threat: o.threat,
            stepSize: o.stepSize,
            steps: o.steps,
            seed: o.seed,
            stream: ctx.step,
            alsoDifferentiate,
            onlyCorrect: o.onlyCorrect,
          },
          noAttackPasses(),
        );
      } finally {
        model.train();
        model.freezeBatchNorm(false);
      }
      return crossEntropyUpdate(ctx, xAdv, y);
    });
  }

  /**
   * Wong et al.'s guard against catastrophic overfitting: PGD-5 accuracy (BN eval) on a held training batch after
   * each epoch; a drop of more than `guardDrop` below the best seen stops training.
   */
  async epochEnd(model: TrainModel, held: { x: Tensor; y: Tensor }): Promise<{ stop: boolean; note: string } | null> {
    const drop = this.opts.guardDrop;
    if (drop === null || !this.bestGuard) return null;
    const best = await this.bestGuard.item();
    model.eval();
    const { threat } = this.opts;
    let acc: number;
    try {
      const r = await pgd((v) => model.forward(v), held.x, held.y, {
        threat,
        stepSize: threat.eps / 4,
        steps: 5,
        seed: this.opts.seed,
        stream: 0x6a7d,
      });
      r.adv.dispose();
      acc = r.correct.filter(Boolean).length / r.correct.length;
    } finally {
      model.train();
    }
    const note = `guard: PGD-5 accuracy on a held training batch ${(acc * 100).toFixed(1)}% (best ${(Math.max(best, acc) * 100).toFixed(1)}%)`;
    if (acc < best - drop)
      return {
        stop: true,
        note: `${note}: fell by more than ${(drop * 100).toFixed(0)} points, catastrophic overfitting; stopping`,
      };
    this.bestGuard.write(Float32Array.of(Math.max(best, acc)));
    return { stop: false, note };
  }

  state(): Record<string, Tensor> {
    return this.bestGuard ? { guardBest: this.bestGuard } : {};
  }

  dispose(): void {
    this.bestGuard?.dispose();
  }
}

/**
 * The baseline reuse probe of K-PGD and FGSM-RS: the method's own attack on the probe batch (its batch-norm mode,
 * the run's threat model, step size and K steps from a random start), and the per-example cosine between successive iterates'
 * input gradients (K pairs: the last gradient is the one at the attacked point). Then, in eval mode, loss and
 * accuracy under that attack.
 */
export async function attackProbes(
  o: { stepSize: number; steps: number; attackBn: string },
  p: ProbeContext,
): Promise<ProbeValues> {
  if (o.attackBn === 'eval') p.model.eval();
  const c = await successiveCosines(p, o);
  p.model.eval();
  const attacked = await lossAccuracy(p, c.adv).finally(() => c.adv.dispose());
  return {
    grad_cos_successive: c.mean,
    grad_cos_successive_first: c.first,
    grad_cos_successive_last: c.last,
    attack_loss: attacked.loss,
    attack_accuracy: attacked.accuracy,
  };
}
