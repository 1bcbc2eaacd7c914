// Natural (standard) training: one forward, one backward and one SGD step per minibatch on the clean images.
import type { Tensor } from '../../engine/index.js';
import { defineMethod, noPasses, type Method, type StepContext, type StepResult } from '../method.js';
import { NORMS } from '../threat.js';
import { crossEntropyUpdate } from './common.js';

class Natural implements Method {
  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    return crossEntropyUpdate(ctx, x, y);
  }
}

export default defineMethod({
  name: 'natural',
  summary: 'standard training on clean images (one forward + backward + SGD step per minibatch)',
  options: {},
  short: [],
  // Trains on clean inputs: any threat model (it is recorded, and evaluation uses it).
  norms: NORMS,
  cost: () => ({ ...noPasses(), forward: 1, backwardWeights: 1, sgdSteps: 1 }),
  create: () => new Natural(),
});
