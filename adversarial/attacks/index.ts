// The attacks' functions, in the threat model's norm, box and mask (adversarial/threat.ts). Every attack step
// differentiates the input only (no weight-gradient kernel); the batch-norm mode is the caller's (eval for
// evaluation). Their descriptors (defineAttack) are collected by adversarial/attack-registry.ts.
export type { Attack, AttackPasses, AttackResult, Classifier } from './types.js';
export type { AttackLoss, Objective, TargetedLoss } from './model.js';
export { pgd, pgdPerturb, type PgdOptions, type PgdRunOptions } from './pgd.js';
export { fgsm } from './fgsm.js';
export { apgd, apgdCe, apgdTargeted, type ApgdOptions, type ApgdTargetedOptions } from './apgd.js';
export { fabTargeted, type FabOptions } from './fab.js';
export { projectHyperplane } from './fab-projection.js';
export { square, squareFraction, type SquareOptions } from './square.js';
export { runStages, type Stage, type StageReport } from './stages.js';
export { rankedClasses, Survivors } from './survivors.js';
export { apgdCheckpoints } from './apgd-schedule.js';
export { predict } from './model.js';
