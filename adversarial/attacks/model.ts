// The two ways an attack queries the model, each counted in passes: a forward pass with a backward pass into the
// input only (an attack step), and a forward pass for predictions (which examples are fooled).
import {
  argmax,
  clamp,
  dlrLoss,
  fill,
  keep,
  logitDifference,
  marginLoss,
  scale,
  sign,
  softmaxCrossEntropy,
  targetedDlrLoss,
  tidy,
  valueAndGrads,
  type Tensor,
} from '../../engine/index.js';
import type { AttackPasses, Classifier } from './types.js';

/** Cross-entropy, the Carlini-Wagner margin max_{j≠y} z_j − z_y, or DLR (AutoAttack); all per example and maximized. */
export type AttackLoss = 'ce' | 'cw' | 'dlr';

/** A loss towards a target class t per example: targeted DLR (APGD-T) or z_t − z_y (FAB-T's decision function). */
export interface TargetedLoss {
  loss: 'dlr-targeted' | 'logit-difference';
  /** i32 [N]. */
  targets: Tensor;
}

export type Objective = AttackLoss | TargetedLoss;

function rowLoss(logits: Tensor, y: Tensor, loss: Objective): Tensor {
  if (typeof loss === 'object') {
    return loss.loss === 'dlr-targeted'
      ? targetedDlrLoss(logits, y, loss.targets)
      : logitDifference(logits, y, loss.targets);
  }
  if (loss === 'ce') return softmaxCrossEntropy(logits, y, { reduction: 'none' });
  return loss === 'cw' ? marginLoss(logits, y) : dlrLoss(logits, y);
}

export interface InputGradient {
  /** Per-example loss [N]. */
  loss: Tensor;
  /** d(sum of the losses)/d(xAdv): example i's block is the gradient of its own loss (no batch coupling in eval mode). */
  grad: Tensor;
  /** With `predict`: the predicted classes [N] i32 of the same forward pass. Kept out of every scope: the caller disposes it. */
  pred: Tensor | null;
  /** With `correct`: f32 [N], 1 where the same forward pass classifies the example right, else 0. Kept out of every scope, as pred. */
  correct: Tensor | null;
}

export interface InputGradientOptions {
  /** Also return the predicted classes of the same forward pass. */
  predict?: boolean;
  /** Also return which examples the same forward pass classifies right, as a step gate (Wong et al.'s MNIST PGD). */
  correct?: boolean;
  /** Ablation for the cost benchmark: the backward also computes these tensors' gradients, and drops them. */
  alsoDifferentiate?: readonly Tensor[];
}

/** 1 where the label's logit is strictly the largest, else 0; sign records nothing, so a constant of the tape. */
function correctRows(logits: Tensor, y: Tensor): Tensor {
  return clamp(scale(sign(marginLoss(logits, y)), -1), 0, 1);
}

/**
 * One forward pass at xAdv and one backward pass that differentiates xAdv alone, so no weight-gradient kernel
 * is dispatched. `loss` and `grad` belong to the current scope. `alsoDifferentiate` makes the backward compute
 * those tensors' gradients too, and throw them away, as a framework without gradient subsets would.
 */
export function inputGradient(
  classify: Classifier,
  xAdv: Tensor,
  y: Tensor,
  loss: Objective,
  passes: AttackPasses,
  opts: InputGradientOptions = {},
): InputGradient {
  const { predict = false, alsoDifferentiate = [] } = opts;
  let pred: Tensor | null = null;
  let correct: Tensor | null = null;
  const out = tidy(() => {
    const seed = fill([y.shape[0]], 1, 'loss_seed');
    const { value, grads } = valueAndGrads(
      () => {
        const logits = classify(xAdv);
        if (predict) pred = keep(argmax(logits));
        if (opts.correct) correct = keep(correctRows(logits, y));
        return rowLoss(logits, y, loss);
      },
      [xAdv, ...alsoDifferentiate],
      { seed },
    );
    return { loss: value, grad: grads[0] };
  });
  passes.forward++;
  if (alsoDifferentiate.length) passes.backwardWeights = (passes.backwardWeights ?? 0) + 1;
  else passes.backwardInputOnly++;
  return { ...out, pred, correct };
}

/** The predicted class of each example: one forward pass (counted in `passes` if given) and one readback. */
export async function predict(classify: Classifier, x: Tensor, passes?: AttackPasses): Promise<Int32Array> {
  const pred = keep(tidy(() => argmax(classify(x))));
  if (passes) passes.forward++;
  try {
    return await pred.ints();
  } finally {
    pred.dispose();
  }
}

/** The logits [N, K] on the host: one forward pass (counted) and one readback. */
export async function hostLogits(classify: Classifier, x: Tensor, passes: AttackPasses): Promise<Float32Array> {
  const z = keep(tidy(() => classify(x)));
  passes.forward++;
  try {
    return await z.data();
  } finally {
    z.dispose();
  }
}

/** Whether the model classifies each example of xAdv as its label: one forward pass and one readback. */
export async function stillCorrect(
  classify: Classifier,
  xAdv: Tensor,
  labels: Int32Array,
  passes: AttackPasses,
): Promise<boolean[]> {
  const p = await predict(classify, xAdv, passes);
  return Array.from(labels, (label, i) => p[i] === label);
}
