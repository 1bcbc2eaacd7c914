// Natural (standard) training: one forward, one backward and one SGD step per minibatch on the clean images.
import { softmaxCrossEntropy, type Tensor } from '../../engine/index.js';
import { defineMethod, noPasses, type Method, type StepContext, type StepResult } from '../method.js';

class Natural implements Method {
  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { loss, correct } = ctx.update(() => {
      const logits = ctx.model.forward(x);
      return { loss: softmaxCrossEntropy(logits, y), logits };
    }, y);
    return { loss, correct };
  }

  state(): Record<string, Tensor> {
    return {};
  }

  dispose(): void {}
}

export default defineMethod({
  name: 'natural',
  summary: 'standard training on clean images (one forward + backward + SGD step per minibatch)',
  options: {},
  short: [],
  cost: () => ({ ...noPasses(), forward: 1, backwardWeights: 1, sgdSteps: 1 }),
  create: () => new Natural(),
});
