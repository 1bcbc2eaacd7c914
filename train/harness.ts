// A method driven outside the training loop (benchmarks, the demo, tests): one model, optimizer and pass meter,
// and a step context per minibatch, exactly as the trainer builds them.
import type { Tensor } from '../engine/index.js';
import type { BatchInfo, Method, StepResult, TrainModel } from '../adversarial/method.js';
import type { Optimizer } from '../nn/optim.js';
import { plainBatch, stepContext } from './context.js';
import type { Classifier } from '../nn/model.js';
import { countedModel } from './model.js';
import { PassMeter } from './passes.js';

export class Harness {
  readonly meter: PassMeter;
  readonly model: TrainModel;
  step = 0;

  constructor(
    readonly net: Classifier,
    readonly opt: Optimizer,
    readonly seed = 0,
    readonly lr: () => number = () => 0.01,
  ) {
    this.meter = new PassMeter(net.parameters());
    this.model = countedModel(net, this.meter);
  }

  /** One minibatch through `method`, measured; the step counter advances. */
  run(method: Method, x: Tensor, y: Tensor, batch: BatchInfo = plainBatch(x.shape[0])): StepResult {
    const ctx = stepContext({
      model: this.model,
      opt: this.opt,
      meter: this.meter,
      nextLr: this.lr,
      step: this.step++,
      seed: this.seed,
      batch,
    });
    return this.meter.measure(() => method.step(x, y, ctx));
  }
}
