// The attacks' part of the `advfree eval` report: per attack its accuracy, time and passes, and for the suites
// (autoattack, aa-lite) the robust accuracy after each stage with its time and passes, like AutoAttack's own log.
import type { AttackPasses } from '../adversarial/attacks/index.js';
import type { RobustReport } from '../adversarial/evaluate.js';

/** The JSON entries, one per attack. */
export function evalAttackEntries(res: RobustReport) {
  return res.attacks.map((a) => ({
    attack: a.attack.descriptor.name,
    description: a.description,
    examples: a.examples,
    accuracy: a.correct / a.examples,
    seconds: a.seconds,
    passes: a.passes,
    // After each stage: the fraction of all the attack's examples still robust (clean-wrong ones count as broken).
    stages:
      a.stages?.map((s) => ({
        attack: s.name,
        description: s.description,
        attacked: s.attacked,
        robust_accuracy: s.robust / a.examples,
        seconds: s.seconds,
        passes: s.passes,
      })) ?? null,
    skipped: a.skipped,
    options: a.attack.options,
  }));
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const passText = (p: AttackPasses) => `${p.forward} forward, ${p.backwardInputOnly} input-gradient passes`;

/** The text lines of the attacks, each suite followed by its stages. */
export function attackLines(entries: ReturnType<typeof evalAttackEntries>): string[] {
  return entries.flatMap((a) => [
    `  ${a.description}: ${pct(a.accuracy)} of ${a.examples} (${a.seconds.toFixed(1)} s; ${passText(a.passes)})`,
    ...(a.stages ?? []).map(
      (s) =>
        `    after ${s.attack.padEnd(8)} robust accuracy ${pct(s.robust_accuracy)}  (ran on ${s.attacked}; ${s.seconds.toFixed(1)} s; ${passText(s.passes)})`,
    ),
  ]);
}
