// Option declarations and pieces shared by several methods, so their defaults, ranges and common steps are
// written once.
import { softmaxCrossEntropy, type Tensor } from '../../engine/index.js';
import type { StepContext, StepResult } from '../method.js';
import type { ChoiceOption, NumberOption } from '../options.js';

/** An attack step size in input units: positive; a default may follow the threat model's eps. */
export const stepSize = (def: NumberOption['default'], help: string, defaultText?: string): NumberOption => ({
  kind: 'pixels',
  min: 0,
  max: 1,
  exclusiveMin: true,
  default: def,
  help,
  defaultText,
});

/** Batch norm during attack steps. */
export const ATTACK_BN: ChoiceOption = {
  kind: 'choice',
  choices: ['train', 'eval'],
  default: 'train',
  help: "BN in attack steps: 'train' (batch statistics, running ones untouched; Madry's code) or 'eval' (running statistics)",
};

/** The update most methods end with: one SGD step on the cross-entropy of the model at x (clean or attacked). */
export function crossEntropyUpdate(ctx: StepContext, x: Tensor, y: Tensor): StepResult {
  const { loss, correct } = ctx.update(() => {
    const logits = ctx.model.forward(x);
    return { loss: softmaxCrossEntropy(logits, y), logits };
  }, y);
  return { loss, correct };
}
