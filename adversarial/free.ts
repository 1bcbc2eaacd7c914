// "Adversarial Training for Free!" (Shafahi et al., 2019), Algorithm 1. One perturbation buffer persists across
// minibatches and epochs; each minibatch is replayed m times, and every replay's single backward pass yields
// both the weight gradient (an SGD step) and the input gradient (a signed step on the perturbation).
import { add, assignPrefix, clamp, keep, signStep, tidy, zeros, type Shape, type Tensor } from '../engine/index.js';
import type { Method, StepContext, StepResult } from './method.js';
import { sgdUpdate } from './natural.js';

export interface FreeOptions {
  /** Replays of each minibatch (the paper's m). */
  replays: number;
  /** L-inf radius of the perturbation, in [0,1] pixel units (8/255 for CIFAR). */
  eps: number;
  /** The perturbation buffer's shape: [batch size, C, H, W]. */
  shape: Shape;
}

export class Free implements Method {
  readonly name = 'free';
  readonly replays: number;
  /** The persistent perturbation; a smaller last batch uses (and updates) its first rows. Zero at the start. */
  private readonly delta: Tensor;

  constructor(readonly opts: FreeOptions) {
    this.replays = opts.replays;
    this.delta = keep(zeros(opts.shape, 'delta'));
  }

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { eps } = this.opts;
    const n = x.shape[0];
    let last: StepResult | null = null;
    for (let r = 0; r < this.replays; r++) {
      last?.loss.dispose();
      last?.correct.dispose();
      last = tidy(() => {
        const delta = n === this.delta.shape[0] ? this.delta : this.delta.prefix(n);
        const { loss, correct, dLeaf } = sgdUpdate(() => clamp(add(x, delta), 0, 1), y, ctx, delta);
        // The queue runs in order: this replay's passes have read delta before this overwrites it.
        assignPrefix(this.delta, signStep(delta, dLeaf!, eps, eps));
        return { loss, correct };
      });
    }
    return last!;
  }

  state(): Record<string, Tensor> {
    return { delta: this.delta };
  }

  dispose(): void {
    this.delta.dispose();
  }
}
