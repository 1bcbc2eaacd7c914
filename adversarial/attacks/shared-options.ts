// Option declarations several attacks share, so that one flag has one meaning, range and default across them.
import type { ChoiceOption, IntOption } from '../options.js';

export const RESTARTS: IntOption = {
  kind: 'int',
  min: 1,
  max: 100,
  default: 1,
  help: 'random restarts (the per-example worst case is kept)',
};

export const LOSS: ChoiceOption = {
  kind: 'choice',
  choices: ['ce', 'cw'],
  default: 'ce',
  help: "loss: 'ce' (cross-entropy) or 'cw' (the margin max_{j≠y} z_j − z_y)",
};

export const APGD_STEPS: IntOption = {
  kind: 'int',
  min: 1,
  max: 10_000,
  default: 100,
  help: "APGD iterations (the suites always run AutoAttack's 100)",
};

export const FAB_STEPS: IntOption = {
  kind: 'int',
  min: 1,
  max: 10_000,
  default: 100,
  help: "FAB iterations per target (the suites always run AutoAttack's 100)",
};

export const APGD_LIMIT: IntOption = {
  kind: 'int',
  min: 0,
  max: 1e9,
  default: 0,
  help: 'run on the first N evaluated examples only (0: all of them)',
};

export const QUERIES: IntOption = {
  kind: 'int',
  min: 1,
  max: 1_000_000,
  default: 5000,
  help: "Square's query budget per example (AutoAttack's 5000)",
};

/** The limit an APGD_LIMIT option sets. */
export const apgdLimit = (o: { apgdLimit: number }): number | null => o.apgdLimit || null;

/** '1 restart', '3 restarts'. */
export const restartsText = (r: number): string => `${r} restart${r > 1 ? 's' : ''}`;
