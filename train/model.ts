// The model as a method sees it: every forward pass counted by the pass meter, the optional first-layer split
// (YOPO), and the batch-norm modes.
import type { Tensor } from '../engine/index.js';
import type { TrainModel } from '../adversarial/method.js';
import { freezeBatchNorm } from '../nn/layers.js';
import type { Classifier } from '../nn/model.js';
import type { PassMeter } from './passes.js';

export function countedModel(model: Classifier, meter: PassMeter): TrainModel {
  const params = model.namedParameters();
  const split = {
    first: (x: Tensor) => (meter.partialForward(), model.first(x)),
    rest: (h: Tensor) => (meter.completePartial(), model.rest(h)),
    firstParams: model.firstLayer.map((name) => {
      const i = params.findIndex(([n]) => n === name);
      if (i < 0) throw new Error(`advfree: the model's first layer names parameter '${name}', which it does not have`);
      return i;
    }),
  };
  return {
    forward: (x) => (meter.forward(), model.forward(x)),
    split,
    params,
    train: () => void model.train(),
    eval: () => void model.eval(),
    freezeBatchNorm: (frozen) => freezeBatchNorm(model, frozen),
  };
}
