// What a training method is to the training loop: given a minibatch on the GPU, it runs its forward/backward
// passes and SGD steps and reports the loss and correct count of the batch it trained on. Methods count their
// passes so every method's cost can be compared in the same units.
import type { Tensor } from '../engine/index.js';
import type { Param } from '../nn/module.js';
import type { Sgd } from '../nn/optim.js';
import type { WideResNet } from '../nn/wrn.js';

/** Work done, in passes over a minibatch (an input-gradient-only backward skips every weight-gradient kernel). */
export interface PassCounts {
  forward: number;
  /** Backward passes that produced weight gradients (and possibly the input gradient). */
  backwardWeights: number;
  /** Backward passes that produced only the input gradient (attack steps). */
  backwardInputOnly: number;
  sgdSteps: number;
}

export const noPasses = (): PassCounts => ({ forward: 0, backwardWeights: 0, backwardInputOnly: 0, sgdSteps: 0 });

export interface StepContext {
  model: WideResNet;
  params: readonly [string, Param][];
  opt: Sgd;
  /** The learning rate of the next SGD iteration; the method calls it once per SGD step it takes. */
  nextLr: () => number;
  /** The global minibatch index, for seeding per-step randomness reproducibly. */
  step: number;
  passes: PassCounts;
}

export interface StepResult {
  /** Mean loss of the last replay / the update step, shape [1]. */
  loss: Tensor;
  /** Correctly classified examples of that pass, shape [1]. */
  correct: Tensor;
}

export interface Method {
  readonly name: string;
  /** SGD steps per minibatch (free training's m; 1 for the others). */
  readonly replays: number;
  /** Trains on one minibatch x [N,3,H,W] in [0,1] with labels y [N]. */
  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult;
  /** Tensors the method carries between steps (free training's delta): saved in the training state, and
   * written in place on resume. */
  state(): Record<string, Tensor>;
  /** Called after each epoch with a held, unaugmented training batch; may stop the run (FGSM-RS's guard). */
  epochEnd?(ctx: Pick<StepContext, 'model'>, held: { x: Tensor; y: Tensor }): Promise<{ stop: boolean; note: string } | null>;
  dispose(): void;
}
