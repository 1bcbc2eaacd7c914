// The step context the training layer hands a method: the counted model, counted gradients, the step of the run's
// optimizer (SGD or Adam; `sgdStep` by its historical name) at the schedule's learning rate, the generic update of any differentiable loss, and the batch's provenance.
import { countCorrect, keep, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import type { BatchInfo, StepContext, TrainModel } from '../adversarial/method.js';
import type { Optimizer } from '../nn/optim.js';
import type { PassMeter } from './passes.js';

export interface ContextParts {
  model: TrainModel;
  opt: Optimizer;
  meter: PassMeter;
  /** The learning rate of the next optimizer iteration (advances the schedule). */
  nextLr: () => number;
  step: number;
  seed: number;
  batch: BatchInfo;
}

export function stepContext(p: ContextParts): StepContext {
  const weights = () => p.model.params.map(([, q]) => q.tensor);
  const sgdStep = (grads: readonly Tensor[]) => {
    p.opt.step(grads, p.nextLr());
    p.meter.sgdStep();
  };
  return {
    model: p.model,
    step: p.step,
    seed: p.seed,
    batch: p.batch,
    weights,
    // The meter counts this backward pass through the engine's listener, like any other.
    grad: (f, wrt, seed) => valueAndGrads(f, wrt, { seed }),
    sgdStep,
    update: (lossFn, y, leaves = []) =>
      tidy(() => {
        let correct: Tensor | null = null;
        const { value, grads } = valueAndGrads(() => {
          const { loss, logits } = lossFn();
          correct = keep(countCorrect(logits, y));
          return loss;
        }, [...leaves, ...weights()]);
        sgdStep(grads.slice(leaves.length));
        return { loss: value, correct: correct!, leafGrads: grads.slice(0, leaves.length) };
      }),
  };
}

/** Batch provenance for a batch with no dataset behind it (benchmarks, tests): indices 0..n-1, no augmentation. */
export const plainBatch = (n: number): BatchInfo => ({
  indices: Uint32Array.from({ length: n }, (_, i) => i),
  epoch: 0,
  augment: null,
});
