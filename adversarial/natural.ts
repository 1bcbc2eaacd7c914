// Natural (standard) training, and the SGD update every method ends its step with.
import { countCorrect, keep, softmaxCrossEntropy, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import type { Method, StepContext, StepResult } from './method.js';

/**
 * One forward, one backward and one SGD step on the batch `input()` with labels y. With `leaf`, the same backward
 * also yields the gradient for that tensor (free training's perturbation), returned as `dLeaf`.
 */
export function sgdUpdate(input: () => Tensor, y: Tensor, ctx: StepContext, leaf: Tensor | null = null): StepResult & { dLeaf: Tensor | null } {
  return tidy(() => {
    const weights = ctx.params.map(([, p]) => p.tensor);
    let correct: Tensor | null = null;
    const { value, grads } = valueAndGrads(() => {
      const logits = ctx.model.forward(input());
      correct = keep(countCorrect(logits, y));
      return softmaxCrossEntropy(logits, y);
    }, leaf ? [leaf, ...weights] : weights);
    ctx.opt.step(leaf ? grads.slice(1) : grads, ctx.nextLr());
    ctx.passes.forward++;
    ctx.passes.backwardWeights++;
    ctx.passes.sgdSteps++;
    return { loss: value, correct: correct!, dLeaf: leaf ? grads[0] : null };
  });
}

export class Natural implements Method {
  readonly name = 'natural';
  readonly replays = 1;

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { loss, correct } = sgdUpdate(() => x, y, ctx);
    return { loss, correct };
  }

  state(): Record<string, Tensor> {
    return {};
  }

  dispose(): void {}
}
