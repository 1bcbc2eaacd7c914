// AutoAttack's protocol: attacks run in order, each only on the examples still robust after the ones before it,
// with the robust accuracy, time and passes after every stage (the figures of AutoAttack's own log).
import { checkBatch } from './check.js';
import { stillCorrect } from './model.js';
import { Survivors } from './survivors.js';
import { noAttackPasses, type Attack, type AttackPasses, type AttackResult, type Classifier } from './types.js';
import type { Tensor } from '../../engine/index.js';

export interface Stage {
  name: string;
  attack: Attack;
}

export interface StageReport {
  name: string;
  /** Examples the stage ran on (those still robust before it). */
  attacked: number;
  /** Examples still robust after it. */
  robust: number;
  seconds: number;
  passes: AttackPasses;
}

/** Runs the stages in order on the survivors of the clean pass and of every earlier stage. */
export async function runStages(
  classify: Classifier,
  x: Tensor,
  y: Tensor,
  stages: readonly Stage[],
): Promise<AttackResult & { stages: StageReport[] }> {
  checkBatch('runStages', x, y);
  const passes = noAttackPasses();
  const labels = await y.ints();
  const survivors = await Survivors.of(x, y, await stillCorrect(classify, x, labels, passes));
  const reports: StageReport[] = [];
  for (const stage of stages) {
    const t0 = performance.now();
    const own = noAttackPasses();
    const attacked = await survivors.run((s) => stage.attack(classify, s.x, s.y), own);
    passes.forward += own.forward;
    passes.backwardInputOnly += own.backwardInputOnly;
    reports.push({
      name: stage.name,
      attacked,
      robust: survivors.remaining,
      seconds: (performance.now() - t0) / 1000,
      passes: own,
    });
  }
  return { ...survivors.result(), passes, stages: reports };
}
