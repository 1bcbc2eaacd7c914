// N-FGSM (de Jorge et al., NeurIPS 2022), as pdejorge/N-FGSM train.py runs it: from x + U(-k·eps, k·eps)
// clamped to [0, 1], one signed step of the input gradient of CE, clamped to [0, 1] but NOT projected back onto
// the eps ball (the perturbation may reach k·eps + step), then one SGD step on CE at that point. The model stays
// in training mode throughout, as in the code: the attack's forward pass uses batch statistics and updates the
// BN running statistics too (PyTorch's train mode does), so they see two batches per minibatch.
import { tidy, type Tensor } from '../../engine/index.js';
import { inputGradient } from '../attacks/model.js';
import { noAttackPasses } from '../attacks/types.js';
import { defineMethod, noPasses, type Method, type StepContext, type StepResult } from '../method.js';
import type { ThreatModel } from '../threat.js';
import { crossEntropyUpdate, stepSize } from './common.js';

export interface NFgsmOptions {
  /** The noise is U(-noise·eps, noise·eps). */
  noise: number;
  stepSize: number;
}

export class NFgsm implements Method {
  constructor(
    readonly opts: NFgsmOptions,
    readonly threat: ThreatModel,
    readonly seed: number,
  ) {}

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { model } = ctx;
    const { threat } = this;
    const { noise, stepSize: step } = this.opts;
    return tidy(() => {
      // The noise draws from stream `step`, so a resumed run attacks as the original did.
      const start = threat.randomStart(x, this.seed, ctx.step, noise * threat.eps);
      const { grad } = inputGradient((v) => model.forward(v), start, y, 'ce', noAttackPasses());
      // No projection onto the eps ball: only the box and the mask act (the code's default --clip -1).
      const adv = threat.step(x, start, grad, step, Infinity);
      return crossEntropyUpdate(ctx, adv, y);
    });
  }
}

export default defineMethod({
  name: 'nfgsm',
  summary:
    'N-FGSM (de Jorge et al. 2022): noise U(-k·eps, k·eps), one FGSM step of eps with no projection onto the eps ball, then one SGD step (BN in training mode throughout)',
  options: {
    noise: {
      kind: 'number',
      min: 0,
      max: 16,
      default: 2,
      help: 'noise magnitude k relative to eps: the start is x + U(-k·eps, k·eps)',
    },
    stepSize: stepSize((_, t) => t.eps, 'attack step size', 'eps'),
  },
  short: [],
  cost: () => ({ ...noPasses(), forward: 2, backwardInputOnly: 1, backwardWeights: 1, sgdSteps: 1 }),
  create: (o, env) => new NFgsm(o, env.threat, env.seed),
});
