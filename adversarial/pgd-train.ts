// Adversarial training on attacked batches: Madry et al.'s K-PGD (random start, K signed steps, then one SGD step
// on the adversarial batch) and Wong et al.'s FGSM with random start (the K = 1 case with step size ~1.25·eps).
// Attack steps ask for the input gradient only, so they dispatch no weight-gradient kernel.
import { tidy, type Tensor } from '../engine/index.js';
import { freezeBatchNorm } from '../nn/layers.js';
import { pgd, pgdPerturb } from './attacks/pgd.js';
import type { Method, StepContext, StepResult } from './method.js';
import { sgdUpdate } from './natural.js';

/**
 * BN during attack steps. 'train' (Madry's code): batch statistics, as in the update step, but the running
 * statistics are not updated by attack steps. 'eval': the running statistics.
 */
export type AttackBn = 'train' | 'eval';

export interface AttackTrainOptions {
  name: 'pgd' | 'fgsm-rs';
  eps: number;
  stepSize: number;
  steps: number;
  attackBn: AttackBn;
  seed: number;
  /** fgsm-rs: stop when PGD accuracy on a held training batch falls this far below its best (null: off). */
  guardDrop: number | null;
  /** Ablation for the cost benchmark: attack steps also compute every weight gradient (and drop it). */
  fullAttackBackward?: boolean;
}

export class AttackTraining implements Method {
  readonly replays = 1;
  readonly name: string;
  private bestGuard = -1;

  constructor(readonly opts: AttackTrainOptions) {
    this.name = opts.name;
  }

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { model } = ctx;
    const o = this.opts;
    return tidy(() => {
      if (o.attackBn === 'eval') model.eval();
      else freezeBatchNorm(model, true);
      let xAdv: Tensor;
      try {
        // The random start draws from stream `step`, so a resumed run attacks exactly as the original did.
        const alsoDifferentiate = o.fullAttackBackward ? ctx.params.map(([, p]) => p.tensor) : undefined;
        xAdv = pgdPerturb((v) => model.forward(v), x, y, { eps: o.eps, stepSize: o.stepSize, steps: o.steps, seed: o.seed, stream: ctx.step, alsoDifferentiate }, ctx.passes);
      } finally {
        model.train();
        freezeBatchNorm(model, false);
      }
      const { loss, correct } = sgdUpdate(() => xAdv, y, ctx);
      return { loss, correct };
    });
  }

  /**
   * Wong et al.'s guard against catastrophic overfitting: PGD-5 accuracy (BN eval) on a held training batch after
   * each epoch; a drop of more than `guardDrop` below the best seen stops training.
   */
  async epochEnd(ctx: Pick<StepContext, 'model'>, held: { x: Tensor; y: Tensor }): Promise<{ stop: boolean; note: string } | null> {
    const drop = this.opts.guardDrop;
    if (drop === null) return null;
    const { model } = ctx;
    model.eval();
    const eps = this.opts.eps;
    let acc: number;
    try {
      const r = await pgd((v) => model.forward(v), held.x, held.y, { eps, stepSize: eps / 4, steps: 5, seed: this.opts.seed, stream: 0x6a7d });
      r.adv.dispose();
      acc = r.correct.filter(Boolean).length / r.correct.length;
    } finally {
      model.train();
    }
    const note = `guard: PGD-5 accuracy on a held training batch ${(acc * 100).toFixed(1)}% (best ${(Math.max(this.bestGuard, acc) * 100).toFixed(1)}%)`;
    if (acc < this.bestGuard - drop) return { stop: true, note: `${note}: fell by more than ${(drop * 100).toFixed(0)} points, catastrophic overfitting; stopping` };
    this.bestGuard = Math.max(this.bestGuard, acc);
    return { stop: false, note };
  }

  state(): Record<string, Tensor> {
    return {};
  }

  dispose(): void {}
}
