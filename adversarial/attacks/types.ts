// What every attack takes and returns. Attacks see the model as a function from images to logits, so the
// caller decides the batch-norm mode (eval for evaluation) and no attack touches the weights.
import type { Tensor } from '../../engine/index.js';
import type { PassCounts } from '../method.js';
import type { StageReport } from './stages.js';

/** Images [N, C, H, W] in [0, 1] → logits [N, K]. */
export type Classifier = (x: Tensor) => Tensor;

/** Work done, in passes over the batch; attacks only ever run input-gradient-only backward passes. */
export type AttackPasses = Pick<PassCounts, 'forward' | 'backwardInputOnly'> &
  Partial<Pick<PassCounts, 'backwardWeights'>>;

export const noAttackPasses = (): AttackPasses => ({ forward: 0, backwardInputOnly: 0 });

export interface AttackResult {
  /** The adversarial batch, shaped like x, inside the eps ball around x and inside [0, 1]. The caller disposes it. */
  adv: Tensor;
  /** Per example: whether the model still classifies it correctly, i.e. no restart (nor, for APGD, any iterate)
   * fooled it. Where false, `adv` holds a point that fools the model. */
  correct: boolean[];
  passes: AttackPasses;
  /** Suites (runStages): the figures after each stage. */
  stages?: StageReport[];
}

/** An attack with its options bound, as `evaluateRobust` runs it. */
export type Attack = (classify: Classifier, x: Tensor, y: Tensor) => Promise<AttackResult>;
