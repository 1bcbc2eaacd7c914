// TRADES (Zhang et al., ICML 2019), as yaodongyu/TRADES trades.py runs it. BN in eval mode: from x' = x +
// 0.001·N(0,1) on the mutable elements (not clamped before the first step, as in the code), K signed steps
// ascending KL(softmax f(x) || softmax f(x')) (summed over the batch), each projected onto the threat model.
// Then, in training mode, one SGD step on CE(f(x), y) + beta·KL_mean(softmax f(x) || softmax f(x')), with
// gradients through both branches (f(x) is not detached).
import { add, randomNormal, scale, softmaxCrossEntropy, softmaxKl, tidy, type Tensor } from '../../engine/index.js';
import { defineMethod, noPasses, type Method, type StepContext, type StepResult } from '../method.js';
import type { ThreatModel } from '../threat.js';
import { stepSize } from './common.js';

export interface TradesOptions {
  steps: number;
  stepSize: number;
  beta: number;
}

/** The code's start: x + 0.001·N(0,1). */
const START_STD = 0.001;

export class Trades implements Method {
  constructor(
    readonly opts: TradesOptions,
    readonly threat: ThreatModel,
    readonly seed: number,
  ) {}

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { model } = ctx;
    const { threat } = this;
    const { steps, stepSize: step, beta } = this.opts;
    return tidy(() => {
      model.eval();
      let xAdv: Tensor;
      try {
        // f(x) is a constant of the attack (eval mode, x fixed): one forward pass here, where the code recomputes
        // it at every step. The start draws from stream `step`, so a resumed run attacks as the original did.
        const clean = model.forward(x);
        xAdv = threat.apply(x, randomNormal(x.shape, 0, START_STD, this.seed, ctx.step, 'trades_start'), false);
        for (let k = 0; k < steps; k++) {
          const at = xAdv;
          const next = tidy(() => {
            const { grads } = ctx.grad(() => softmaxKl(clean, model.forward(at), { reduction: 'sum' }), [at]);
            return threat.step(x, at, grads[0], step);
          });
          at.dispose();
          xAdv = next;
        }
      } finally {
        model.train();
      }
      const adv = xAdv;
      // The code runs f(x) a second time inside the KL term; in training mode it gives the same logits (batch
      // statistics), so one clean forward serves both terms. Its BN running statistics are therefore updated by
      // x and x' once each per minibatch, where the code updates them by x, x', x.
      const { loss, correct } = ctx.update(() => {
        const logits = model.forward(x);
        const kl = softmaxKl(logits, model.forward(adv));
        return { loss: add(softmaxCrossEntropy(logits, y), scale(kl, beta)), logits };
      }, y);
      return { loss, correct };
    });
  }
}

export default defineMethod({
  name: 'trades',
  summary:
    "TRADES (Zhang et al. 2019): K-step KL attack in BN eval mode, then one SGD step on CE(f(x)) + beta·KL(f(x) || f(x')) through both branches; training accuracy is on clean images",
  options: {
    steps: { kind: 'int', min: 1, max: 1000, default: 10, help: 'KL attack steps K per minibatch' },
    stepSize: stepSize(0.007, "attack step size (the code's 0.007, about 1.8/255)"),
    beta: { kind: 'number', min: 0, max: 1000, default: 6, help: 'weight of the KL term: CE + beta·KL' },
  },
  short: ['steps'],
  shortLetters: ['K'],
  // K attack forwards + K input-only backwards + 1 clean eval forward, then 2 forwards + 1 weight backward + 1 step.
  cost: (o) => ({ ...noPasses(), forward: o.steps + 3, backwardInputOnly: o.steps, backwardWeights: 1, sgdSteps: 1 }),
  create: (o, env) => new Trades(o, env.threat, env.seed),
});
