// Option declarations shared by several methods, so their defaults and ranges are written once.
import type { ChoiceOption, NumberOption } from '../options.js';

/** The L-inf radius of the training perturbation. */
export const EPS: NumberOption = { kind: 'pixels', min: 0, max: 1, default: 8 / 255, help: 'L-inf radius of the training perturbation' };

/** An attack step size: positive. */
export const stepSize = (def: number | ((o: Record<string, unknown>) => number), help: string, defaultText?: string): NumberOption => ({
  kind: 'pixels', min: 0, max: 1, exclusiveMin: true, default: def as NumberOption['default'], help, defaultText,
});

/** Batch norm during attack steps. */
export const ATTACK_BN: ChoiceOption = {
  kind: 'choice',
  choices: ['train', 'eval'],
  default: 'train',
  help: "BN in attack steps: 'train' (batch statistics, running ones untouched; Madry's code) or 'eval' (running statistics)",
};
