// L-inf attacks on images in [0, 1]. Every attack step differentiates the input only (no weight-gradient kernel);
// the batch-norm mode is the caller's (eval for evaluation).
export type { Attack, AttackPasses, AttackResult, Classifier } from './types.js';
export type { AttackLoss } from './model.js';
export { fgsm, pgd, pgdPerturb, type PgdOptions, type PgdRunOptions } from './pgd.js';
export { apgdCe, type ApgdOptions } from './apgd.js';
export { apgdCheckpoints } from './apgd-schedule.js';
export { robustEvaluate, type RobustResult } from './robust.js';
export { predict } from './model.js';
