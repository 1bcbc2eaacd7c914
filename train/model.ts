// The model as a method sees it: every forward pass counted by the pass meter, the optional first-layer split
// (YOPO), and the batch-norm modes.
import type { Tensor } from '../engine/index.js';
import type { TrainModel } from '../adversarial/method.js';
import { freezeBatchNorm } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { PassMeter } from './passes.js';

/** A classifier module, optionally split after its first layer. */
export interface Classifier extends Module {
  forward(x: Tensor): Tensor;
  first?(x: Tensor): Tensor;
  rest?(h: Tensor): Tensor;
  /** State-dict names of the first layer's parameters. */
  readonly firstLayer?: readonly string[];
}

export function countedModel(model: Classifier, meter: PassMeter): TrainModel {
  const params = model.namedParameters();
  const { first, rest, firstLayer } = model;
  const split = first && rest && firstLayer
    ? {
        first: (x: Tensor) => (meter.partialForward(), first.call(model, x)),
        rest: (h: Tensor) => (meter.completePartial(), rest.call(model, h)),
        firstParams: firstLayer.map((name) => {
          const i = params.findIndex(([n]) => n === name);
          if (i < 0) throw new Error(`advfree: the model's first layer names parameter '${name}', which it does not have`);
          return i;
        }),
      }
    : undefined;
  return {
    forward: (x) => (meter.forward(), model.forward(x)),
    split,
    params,
    train: () => void model.train(),
    eval: () => void model.eval(),
    freezeBatchNorm: (frozen) => freezeBatchNorm(model, frozen),
  };
}
