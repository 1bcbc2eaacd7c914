// Robust accuracy per example: correct on the clean image and under every attack (each with all its restarts).
import type { Tensor } from '../../engine/index.js';
import { checkBatch } from './check.js';
import { stillCorrect } from './model.js';
import { noAttackPasses, type Attack, type AttackPasses, type Classifier } from './types.js';

export interface RobustResult {
  /** Correct on x. */
  clean: boolean[];
  /** perAttack[a][i]: example i survived attacks[a]. */
  perAttack: boolean[][];
  /** Correct on x and under every attack. */
  robust: boolean[];
  /** All passes, the clean one included. */
  passes: AttackPasses;
}

/** Runs every attack on the whole batch (attack outputs are disposed). */
export async function robustEvaluate(classify: Classifier, x: Tensor, y: Tensor, attacks: readonly Attack[]): Promise<RobustResult> {
  checkBatch('robustEvaluate', x, y);
  const passes = noAttackPasses();
  const clean = await stillCorrect(classify, x, await y.ints(), passes);
  const perAttack: boolean[][] = [];
  for (const attack of attacks) {
    const r = await attack(classify, x, y);
    r.adv.dispose();
    perAttack.push(r.correct);
    passes.forward += r.passes.forward;
    passes.backwardInputOnly += r.passes.backwardInputOnly;
  }
  const robust = clean.map((c, i) => c && perAttack.every((a) => a[i]));
  return { clean, perAttack, robust, passes };
}
