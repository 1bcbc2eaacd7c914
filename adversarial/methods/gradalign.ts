// GradAlign (Andriushchenko and Flammarion, "Understanding and Improving Fast Adversarial Training", NeurIPS
// 2020), as tml-epfl/understanding-fast-adv-training train.py does it: FGSM from zero, then one update on
// CE(f(x_adv), y) + lambda·(1 − mean_i cos(g1_i, g2_i)). g1 is the FGSM pass's own input gradient at x (a
// constant, as the code reuses it), g2 the input gradient at x + U(−eps, eps), not clipped to [0, 1] (as the
// code), built with createGraph inside the update's loss, so the penalty's weight gradient goes through g2: a
// second-order backward pass. BN uses batch statistics throughout (the code trains in train mode); the attack
// and g2's forward leave the running statistics alone, so only the update's forward moves them (the code's
// train mode moves them in all three forward passes).
import { add, affine, randomUniform, softmaxCrossEntropy, tidy, type Tensor } from '../../engine/index.js';
import { inputGradient } from '../attacks/model.js';
import { noAttackPasses } from '../attacks/types.js';
import { defineMethod, noPasses, type Method, type StepContext, type StepResult } from '../method.js';
import type { ThreatModel } from '../threat.js';
import { stepSize } from './common.js';
import { meanCosine, recordedInputGradient } from './input-gradients.js';

export interface GradAlignOptions {
  stepSize: number;
  lambda: number;
}

export class GradAlign implements Method {
  constructor(
    readonly o: GradAlignOptions,
    readonly threat: ThreatModel,
  ) {}

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { model } = ctx;
    const { threat } = this;
    const { eps } = threat;
    const { lambda } = this.o;
    return tidy(() => {
      model.freezeBatchNorm(true);
      let g1: Tensor;
      try {
        // From zero the attack point is x itself (the code's clamp(x + 0, 0, 1)).
        g1 = inputGradient((v) => model.forward(v), x, y, 'ce', noAttackPasses()).grad;
      } finally {
        model.freezeBatchNorm(false);
      }
      // The step is clipped to the eps ball, so 1.25·eps from zero lands at eps·sign(g1), then in the box.
      const xAdv = threat.step(x, x, g1, this.o.stepSize);
      const noise = lambda > 0 ? randomUniform(x.shape, -eps, eps, ctx.seed, ctx.step, 'gradalign_noise') : null;
      const { loss, correct } = ctx.update(() => {
        const logits = model.forward(xAdv);
        const ce = softmaxCrossEntropy(logits, y);
        if (!noise) return { loss: ce, logits };
        model.freezeBatchNorm(true);
        let g2: Tensor;
        try {
          g2 = recordedInputGradient(model, threat.apply(x, noise, false), y).grad;
        } finally {
          model.freezeBatchNorm(false);
        }
        return { loss: add(ce, affine(meanCosine(g1, g2), -lambda, lambda)), logits };
      }, y);
      return { loss, correct };
    });
  }
}

export default defineMethod({
  name: 'gradalign',
  summary:
    'GradAlign (Andriushchenko & Flammarion 2020): FGSM from zero plus lambda·(1 − cos) of input gradients at x and a random point, second order',
  options: {
    stepSize: stepSize((_, t) => 1.25 * t.eps, 'FGSM step from zero (clipped to eps, as the code)', '1.25·eps'),
    lambda: {
      kind: 'number',
      min: 0,
      max: 1e6,
      default: 0.2,
      help: 'weight of the gradient-alignment penalty (0: FGSM from zero alone, no second-order pass)',
    },
  },
  short: [],
  cost: (o) =>
    o.lambda > 0
      ? { ...noPasses(), forward: 3, backwardInputOnly: 2, backwardSecondOrder: 1, sgdSteps: 1 }
      : { ...noPasses(), forward: 2, backwardInputOnly: 1, backwardWeights: 1, sgdSteps: 1 },
  create: (o, env) => new GradAlign(o, env.threat),
});
