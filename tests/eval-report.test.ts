// The eval report: a suite's stages give the robust accuracy after each (over all the attack's examples), with
// time and passes, in the JSON and the text.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeAttack, resolveAttack } from '../adversarial/attack-registry.js';
import type { RobustReport } from '../adversarial/evaluate.js';
import { IMAGE_THREAT } from '../adversarial/threat.js';
import { noPasses } from '../adversarial/method.js';
import { attackLines, evalAttackEntries } from '../bin/eval-report.js';

const t = suite('eval-report');

t('AutoAttack stages: robust accuracy after each, time and passes, in the JSON and the text', () => {
  const setting = { threat: IMAGE_THREAT, images: true, classes: 10 };
  const spec = resolveAttack({ name: 'autoattack', queries: 5000 });
  const p = (forward: number, backwardInputOnly: number) => ({ forward, backwardInputOnly });
  const stage = (name: string, attacked: number, robust: number, seconds: number, passes: ReturnType<typeof p>) => ({
    name,
    description: describeAttack(resolveAttack({ name }), setting),
    attacked,
    robust,
    seconds,
    passes,
  });
  const res: RobustReport = {
    examples: 200,
    cleanCorrect: 160,
    attacks: [
      {
        attack: spec,
        description: describeAttack(spec, setting),
        examples: 200,
        correct: 81,
        seconds: 30,
        passes: p(9000, 4000),
        skipped: [],
        stages: [
          stage('apgd-ce', 160, 90, 5, p(101, 101)),
          stage('apgd-t', 90, 82, 10, p(910, 909)),
          stage('fab-t', 82, 82, 12, p(1801, 900)),
          stage('square', 82, 81, 3, p(5001, 0)),
        ],
      },
    ],
    robustCorrect: 81,
    correct: { clean: new Uint8Array(200), perAttack: [new Uint8Array(200)], robust: new Uint8Array(200) },
    predictions: { clean: new Int32Array(200), adv: null },
    passes: { ...noPasses(), forward: 9001, backwardInputOnly: 4000 },
    seconds: 31,
  };
  const entries = evalAttackEntries(res);
  assert.equal(
    entries[0].stages!.map((s) => s.robust_accuracy),
    [0.45, 0.41, 0.41, 0.405],
  );
  assert.equal(
    entries[0].stages!.map((s) => s.attacked),
    [160, 90, 82, 82],
  );
  assert.equal([entries[0].seconds, entries[0].passes], [30, p(9000, 4000)]);
  const text = attackLines(entries);
  assert.is(text.length, 5);
  const lines = text.filter((l) => l.includes('after '));
  assert.is(lines.length, 4);
  assert.match(
    lines[1],
    /after apgd-t\s+robust accuracy 41\.00%\s+\(ran on 90; 10\.0 s; 910 forward, 909 input-gradient passes\)/,
  );
  assert.match(lines[3], /after square\s+robust accuracy 40\.50%.*5001 forward, 0 input-gradient passes/);
  assert.is(
    text[0],
    '  AutoAttack, standard (eps 8/255: APGD-CE, APGD-T, FAB-T, Square 5000 queries): 40.50% of 200 (30.0 s; 9000 forward, 4000 input-gradient passes)',
  );
});

t.run();
