// Natural (standard) training: one forward, one backward for the weights, one SGD step per minibatch.
import { countCorrect, keep, softmaxCrossEntropy, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import type { Method, StepContext, StepResult } from './method.js';

/** One SGD step on (x, y): the shared update of every method. Returns the loss and correct count of the pass. */
export function sgdUpdate(x: Tensor, y: Tensor, ctx: StepContext, wantInputGrad = false): StepResult & { dx: Tensor | null } {
  return tidy(() => {
    const weights = ctx.params.map(([, p]) => p.tensor);
    let correct: Tensor | null = null;
    const { value, grads } = valueAndGrads(() => {
      const logits = ctx.model.forward(x);
      correct = keep(countCorrect(logits, y));
      return softmaxCrossEntropy(logits, y);
    }, wantInputGrad ? [x, ...weights] : weights);
    ctx.opt.step(wantInputGrad ? grads.slice(1) : grads, ctx.nextLr());
    ctx.passes.forward++;
    ctx.passes.backwardWeights++;
    ctx.passes.sgdSteps++;
    return { loss: value, correct: correct!, dx: wantInputGrad ? grads[0] : null };
  });
}

export class Natural implements Method {
  readonly name = 'natural';
  readonly replays = 1;

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { loss, correct } = sgdUpdate(x, y, ctx);
    return { loss, correct };
  }

  state(): Record<string, Tensor> {
    return {};
  }

  dispose(): void {}
}
