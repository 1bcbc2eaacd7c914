// Every registered method, through the registry alone: its declared cost equals the passes the engine ran (measured
// by the pass meter, cross-checked against weight-gradient kernel dispatches), its short form round-trips, its
// options round-trip through a run's recorded JSON typed, and the derived flags accept and reject as declared.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rt, tensor } from '../engine/index.js';
import {
  createMethod,
  declaredCost,
  METHODS,
  parseShortForm,
  resolveMethod,
  shortForm,
} from '../adversarial/registry.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { parseCommand, type FlagsOf } from '../bin/args.js';
import { Harness } from '../train/harness.js';
import { methodFromFlags } from '../bin/method-flags.js';
import { train } from '../bin/train.js';
import { methodsTable } from '../bin/methods.js';
import { readFileSync } from 'node:fs';
import { assertThrows, imageThreat, randu, ready } from './helpers.js';
import { threatFromFlags } from '../bin/threat-flags.js';

const t = suite('methods');
t.before(ready);

const [B, C, H, W] = [4, 3, 8, 8];

/** Small option values, so each method's step runs in well under a second on a WRN-10-1. */
// The second-order methods run with their penalty on (lambda > 0), so their declared second-order pass is checked.
const SMALL: Record<string, Record<string, number>> = {
  free: { replays: 2 },
  pgd: { steps: 2 },
  yopo: { m: 2, n: 2 },
  atta: { steps: 2 },
  trades: { steps: 2 },
  gradalign: { lambda: 0.2 },
  gradnorm: { lambda: 1 },
};

for (const d of METHODS) {
  t(`${d.name}: declared cost equals the passes the engine ran`, async () => {
    const r = resolveMethod({ name: d.name, ...(SMALL[d.name] ?? {}) });
    const model = new WideResNet(parseArch('wrn-10-1', 10), 1);
    const opt = new Sgd(model.namedParameters(), { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' });
    const h = new Harness(model, opt, 3, () => 0.01);
    const method = createMethod(r, {
      batchShape: [B, C, H, W],
      threat: imageThreat([C, H, W]),
      seed: 3,
      trainSize: B,
      classes: 10,
    });
    const x = tensor(Float32Array.from(randu(B * C * H * W, 5)), [B, C, H, W], { name: 'x' });
    const y = tensor(Int32Array.from([1, 2, 3, 4]), [B], { name: 'y' });
    rt().resetCounters();
    for (let s = 0; s < 2; s++) {
      const res = h.run(method, x, y);
      await res.loss.item();
      res.loss.dispose();
      res.correct.dispose();
    }
    const want = declaredCost(r);
    const twice = Object.fromEntries(Object.entries(want).map(([k, v]) => [k, 2 * v]));
    assert.equal(h.meter.passes, twice, `${d.name}: counted passes over 2 minibatches`);
    // Independently of the meter: a WRN-10-1 backward with weight gradients (first or second order) dispatches
    // conv weight-gradient kernels; input-only and first-layer-only passes dispatch none beyond the first layer's.
    const wgrad = rt().counters().byFamily['conv-weight-grad'] ?? 0;
    assert.is(
      wgrad > 0,
      want.backwardWeights + want.backwardSecondOrder > 0,
      `${d.name}: weight-gradient kernels ran iff a weight backward was declared`,
    );
    for (const v of [x, y]) v.dispose();
    method.dispose?.();
    opt.dispose();
    model.dispose();
  });
}

t('short forms round-trip through the registry', () => {
  for (const d of METHODS) {
    const r = resolveMethod({ name: d.name });
    const again = parseShortForm(shortForm(r));
    assert.equal(again.config, r.config, `${d.name}: ${shortForm(r)}`);
  }
  assert.equal(parseShortForm('free-4').options.replays, 4);
  assert.equal(parseShortForm('pgd-10').options.steps, 10);
  assert.is(parseShortForm('pgd').options.steps, 7, 'a missing positional option takes its default');
  assert.equal([parseShortForm('yopo-4-2').options.m, parseShortForm('yopo-4-2').options.n], [4, 2]);
  assert.equal(
    [1, 3, 10].map((k) => parseShortForm(`atta-${k}`).options.stepSize),
    [0.015, 0.01, 0.007],
    "ATTA's step size follows K as in the code's data-config",
  );
  assertThrows(() => parseShortForm('free-4-2'), /free-M/);
  assertThrows(() => parseShortForm('nosuch-3'), /expected one of natural, /, /free-M/, /pgd-K/, /yopo-M-N/);
});

t('options round-trip typed through the JSON a run records', () => {
  for (const d of METHODS) {
    const r = resolveMethod({ name: d.name, ...(SMALL[d.name] ?? {}) });
    const back = resolveMethod(JSON.parse(JSON.stringify(r.config)));
    assert.equal(back.options, r.options, d.name);
    for (const [k, v] of Object.entries(back.options)) {
      const kind = d.options[k].kind;
      assert.is(
        typeof v,
        kind === 'flag' ? 'boolean' : kind === 'choice' ? 'string' : 'number',
        `${d.name}.${k} keeps its type`,
      );
    }
  }
  // A computed default follows what it depends on: FGSM-RS steps 1.25·eps of the run's threat model.
  assert.is(resolveMethod({ name: 'fgsm-rs' }, { norm: 'linf', eps: 4 / 255 }).options.stepSize, 1.25 * (4 / 255));
  assertThrows(() => resolveMethod({ name: 'free', replays: '8' }), /--replays must be an integer in \[1, 64\]/);
  assertThrows(() => resolveMethod({ name: 'free', steps: 3 }), /method free has no option --steps/);
});

t('descriptor-derived train flags accept and reject as declared', () => {
  const flags = (...argv: string[]) => parseCommand(train, argv) as FlagsOf<typeof train>;
  const parse = (...argv: string[]) => methodFromFlags(flags(...argv));
  // eps is the run's threat model's (--eps, --norm), not a method option: the method's step sizes follow it.
  assert.equal(parse('--method', 'free', '--replays', '4', '--eps', '4/255').config, {
    name: 'free',
    replays: 4,
    randomStart: false,
  });
  assert.is(parse('--method', 'free', '--random-start').config.randomStart, true);
  assert.equal(threatFromFlags(flags('--method', 'free', '--replays', '4', '--eps', '4/255')), {
    norm: 'linf',
    eps: 4 / 255,
  });
  assert.equal(parse('--method', 'pgd').config, {
    name: 'pgd',
    steps: 7,
    stepSize: 2 / 255,
    attackBn: 'train',
    fullAttackBackward: false,
    onlyCorrect: false,
  });
  assert.is(parse('--method', 'pgd', '--only-correct').config.onlyCorrect, true);
  assert.equal(threatFromFlags(flags('--method', 'pgd')), { norm: 'linf', eps: 8 / 255 });
  assertThrows(() => parse('--method', 'pgd', '--step-size', '0'), /--step-size must be a size in \(0, 1\], got 0/);
  assertThrows(
    () => parse('--method', 'pgd', '--replays', '3'),
    /--replays is not an option of method pgd \(its options: --steps, --step-size/,
  );
  assertThrows(() => parse('--method', 'free', '--replays', '65'), /--replays must be an integer in \[1, 64\], got 65/);
  assertThrows(() => parse('--method', 'pgd', '--attack-bn', 'test'), /--attack-bn must be one of train, eval/);
});

t("docs/methods.md's method table is the registry's (advfree methods --markdown)", () => {
  // Every row the docs show is the registry's current row for that method, so they never describe a method,
  // option or default that is not what runs. A method newly added in its own file may be missing until the table
  // is regenerated (so adding one touches only its file and its test); the built-in ones are all there.
  const readme = readFileSync('docs/methods.md', 'utf8').split('\n');
  const [head, rule, ...rows] = methodsTable().split('\n');
  const at = readme.indexOf(head);
  assert.ok(at >= 0 && readme[at + 1] === rule, 'the table header');
  const end = readme.indexOf('', at);
  const shown = readme.slice(at + 2, end);
  for (const line of shown)
    assert.ok(rows.includes(line), `docs/methods.md row is stale, regenerate with advfree methods --markdown: ${line}`);
  for (const name of ['natural', 'fgsm-rs', 'free', 'pgd', 'yopo', 'atta', 'trades', 'nfgsm']) {
    assert.ok(
      shown.some((l) => l.startsWith(`| ${name} |`)),
      `docs/methods.md lists ${name}`,
    );
  }
});

t.run();
