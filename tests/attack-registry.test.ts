// Every registered attack through the registry alone: its options round-trip typed through the JSON an evaluation
// records, reports describe it as before the registry (L-inf) and with the threat model's norm (L2), eval's flags
// and --help come from the descriptors, a flag is refused when no chosen attack takes it, an attack registered from
// outside joins them, and an evaluation runs an attack on the examples its limit covers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor } from '../engine/index.js';
import { defineAttack } from '../adversarial/attack.js';
import {
  ATTACKS,
  attackLimit,
  createAttack,
  describeAttack,
  registerAttack,
  resolveAttack,
} from '../adversarial/attack-registry.js';
import { pgd } from '../adversarial/attacks/index.js';
import { evaluateRobust } from '../adversarial/evaluate.js';
import { flagName } from '../adversarial/options.js';
import { IMAGE_THREAT } from '../adversarial/threat.js';
import { flagValue, helpText, parseCommand, type FlagsOf } from '../bin/args.js';
import { attackSpecs, evaluate } from '../bin/eval.js';
import { hostSource, LinearModel, linfImages, makeData } from './attack-fixtures.js';
import { assertThrows, randn, ready } from './helpers.js';

const t = suite('attack-registry');
t.before(ready);

const CIFAR = { threat: IMAGE_THREAT, images: true, classes: 10 };

t('every attack resolves its defaults, round-trips typed through JSON, and reads as reports have written it', () => {
  for (const d of ATTACKS) {
    const r = resolveAttack({ name: d.name });
    const back = resolveAttack(JSON.parse(JSON.stringify(r.config)));
    assert.equal(back.options, r.options, d.name);
    for (const [k, v] of Object.entries(back.options))
      assert.is(typeof v, d.options[k].kind === 'choice' ? 'string' : 'number', `${d.name}.${k}`);
  }
  const text = (config: { name: string } & Record<string, unknown>) => describeAttack(resolveAttack(config), CIFAR);
  const builtIn = ['apgd-ce', 'apgd-dlr', 'apgd-t', 'fab-t', 'fgsm', 'pgd', 'square', 'aa-lite', 'autoattack'];
  assert.equal(
    builtIn.map((name) => text({ name })),
    [
      'APGD-CE (eps 8/255, 100 iterations, 1 restart)',
      'APGD-DLR (eps 8/255, 100 iterations, 1 restart)',
      'APGD-T (eps 8/255, targeted DLR, 9 targets x 100 iterations)',
      'FAB-T (eps 8/255, 9 targets x 100 iterations)',
      'FGSM (eps 8/255)',
      'PGD-20 (eps 8/255, step 2/255, 1 restart, ce loss)',
      'Square (eps 8/255, 5000 queries, p_init 0.8)',
      'AutoAttack-lite, not the standard suite (eps 8/255: APGD-CE, APGD-T)',
      'AutoAttack, standard (eps 8/255: APGD-CE, APGD-T, FAB-T, Square 5000 queries)',
    ],
  );
  assert.is(
    text({ name: 'apgd-ce', apgdSteps: 50, restarts: 2, apgdLimit: 100 }),
    'APGD-CE (eps 8/255, 50 iterations, 2 restarts, first 100 examples)',
  );
  const l2 = { threat: { norm: 'l2' as const, eps: 0.5 }, images: true, classes: 10 };
  assert.is(
    describeAttack(resolveAttack({ name: 'pgd' }, l2.threat), l2),
    'PGD-20 (L2 eps 0.5, step 0.125, 1 restart, ce loss)',
    'the step follows eps',
  );
  assert.is(
    describeAttack(resolveAttack({ name: 'apgd-t' }), { ...CIFAR, classes: 5 }),
    'APGD-T (eps 8/255, targeted DLR, 4 targets x 100 iterations)',
    'every other class',
  );
  assertThrows(
    () => resolveAttack({ name: 'pgd', queries: 3 }),
    /attack pgd has no option --queries \(its options: --steps, --step-size, --restarts, --loss\)/,
  );
  assertThrows(() => resolveAttack({ name: 'nosuch' }), /unknown attack 'nosuch'; attacks: apgd-ce, /);
});

t("eval's flags and --help are the registry's; an option flag goes to the chosen attacks that take it", () => {
  const help = helpText(evaluate);
  for (const d of ATTACKS) {
    assert.ok(help.includes(`${d.name} (${d.summary})`), `--attack lists ${d.name}`);
    for (const k of Object.keys(d.options))
      assert.ok(
        flagValue(evaluate.flags, flagName(k)) && help.includes(`--${flagName(k)} VALUE`),
        `--${flagName(k)} of ${d.name}`,
      );
  }
  const specs = (...argv: string[]) =>
    attackSpecs(parseCommand(evaluate, argv) as FlagsOf<typeof evaluate>).map((s) => s.config);
  assert.equal(specs('--attack', 'pgd,square', '--steps', '7', '--queries', '30', '--eps', '4/255'), [
    { name: 'pgd', steps: 7, stepSize: 1 / 255, restarts: 1, loss: 'ce' },
    { name: 'square', queries: 30 },
  ]);
  assertThrows(
    () => specs('--attack', 'pgd', '--queries', '30'),
    /--queries is an option of square, autoattack; none of the chosen attacks \(pgd\) takes it/,
  );
  assertThrows(() => specs('--steps', '3'), /--steps is an option of pgd; give --attack/);
  assertThrows(
    () => specs('--attack', 'pgd', '--norm', 'l2', '--eps', '100'),
    /--eps must be a size in \[0,55\.4\d*\] for --norm l2 on cifar10/,
  );
});

t(
  'an attack registered from outside joins the registry; names are unique, and it declares create or stages',
  async () => {
    const weak = defineAttack({
      name: 'pgd-1',
      summary: 'one PGD step',
      options: {},
      describe: () => ({ title: 'PGD-1', details: [] }),
      create: (_, env) => (f, x, y) =>
        pgd(f, x, y, { threat: env.threat, stepSize: env.threat.eps, steps: 1, seed: env.seed, stream: env.stream }),
    });
    registerAttack(weak);
    assert.ok(ATTACKS.includes(weak as never));
    assert.is(describeAttack(resolveAttack({ name: 'pgd-1' }), CIFAR), 'PGD-1 (eps 8/255)');
    assertThrows(() => registerAttack(weak), /an attack named 'pgd-1' is already registered/);
    assertThrows(
      () => registerAttack({ ...weak, name: 'neither', create: undefined }),
      /attack 'neither' must declare create \(an attack\) or stages \(a suite\), not neither/,
    );
  },
);

t('an evaluation runs each attack on the examples its limit covers, every batch from its own streams', async () => {
  const [N, C, S, K] = [10, 3, 4, 3];
  const data = makeData({ n: N, c: C, s: S, k: K }, 4);
  const model = new LinearModel(randn(K * C, 5, 20), randn(K, 6, 0.1), C);
  const threat = linfImages(8 / 255, C, S);
  const limited = resolveAttack({ name: 'apgd-ce', apgdSteps: 5, apgdLimit: 3 });
  assert.is(attackLimit(limited), 3);
  const run = (batch: number) =>
    evaluateRobust(
      model.classify,
      hostSource(data.x, [N, C, S, S], data.labels),
      [resolveAttack({ name: 'fgsm' }), limited],
      { threat, classes: K, batch, seed: 2 },
    );
  const [one, two] = [await run(N), await run(4)];
  assert.equal(
    one.attacks.map((a) => a.examples),
    [N, 3],
  );
  assert.equal(
    two.attacks.map((a) => a.examples),
    [N, 3],
    'batches of 4: the limit reaches into the first batch only',
  );
  // FGSM draws nothing at random: the same result whatever the batching; clean is the same too.
  assert.equal(Array.from(one.correct.perAttack[0]), Array.from(two.correct.perAttack[0]));
  assert.ok(
    Array.from(one.correct.perAttack[1])
      .slice(3)
      .every((v) => v === 1),
    'examples past the limit are not attacked by it',
  );
  // A batch's attack is exactly the attack built for its stream: batch 0 of the one-batch run.
  const x = tensor(data.x, [N, C, S, S], { name: 'x' });
  const y = tensor(data.labels, [N], { name: 'y' });
  const [x3, y3] = [x.prefix(3), y.prefix(3)];
  const direct = await createAttack(
    limited,
    { threat, classes: K, seed: 2, stream: 0 },
    { threat: threat.spec, images: true, classes: K },
  )(model.classify, x3, y3);
  assert.equal(direct.correct.map(Number), Array.from(one.correct.perAttack[1]).slice(0, 3));
  for (const v of [direct.adv, x3, y3, x, y]) v.dispose();
  model.dispose();
  threat.dispose();
});

t.run();
