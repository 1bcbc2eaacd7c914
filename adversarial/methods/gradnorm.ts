// The input-gradient-norm penalty (double backpropagation: Drucker and LeCun 1992; Ross and Doshi-Velez 2018 for
// robustness): one update on CE(f(x), y) + lambda·mean_i ‖∇_{x_i} CE_i‖² on the clean batch. The input gradient
// is built with createGraph inside the update's loss, from the same forward pass as the CE term, so the penalty's
// weight gradient goes through it: one forward, one recorded input-only backward, one second-order backward.
import { add, mean, mul, scale, softmaxCrossEntropy, sum, tidy, type Tensor } from '../../engine/index.js';
import { defineMethod, noPasses, type Method, type StepContext, type StepResult } from '../method.js';
import { NORMS } from '../threat.js';
import { recordedInputGradient } from './input-gradients.js';

export class GradNorm implements Method {
  constructor(readonly lambda: number) {}

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { model } = ctx;
    return tidy(() =>
      ctx.update(() => {
        if (this.lambda === 0) {
          const logits = model.forward(x);
          return { loss: softmaxCrossEntropy(logits, y), logits };
        }
        const g = recordedInputGradient(model, x, y);
        return {
          loss: add(mean(g.losses), scale(sum(mul(g.grad, g.grad)), this.lambda / x.shape[0])),
          logits: g.logits,
        };
      }, y),
    );
  }
}

export default defineMethod({
  name: 'gradnorm',
  summary:
    'input-gradient-norm penalty (double backpropagation, Drucker & LeCun 1992): CE + lambda·mean ‖∇x CE_i‖² on clean images',
  options: {
    lambda: {
      kind: 'number',
      min: 0,
      max: 1e6,
      default: 1,
      help: "weight of the mean squared L2 norm of each example's input gradient (0: natural training)",
    },
  },
  short: [],
  // Trains on clean inputs: any threat model.
  norms: NORMS,
  cost: (o) =>
    o.lambda > 0
      ? { ...noPasses(), forward: 1, backwardInputOnly: 1, backwardSecondOrder: 1, sgdSteps: 1 }
      : { ...noPasses(), forward: 1, backwardWeights: 1, sgdSteps: 1 },
  create: (o) => new GradNorm(o.lambda),
});
