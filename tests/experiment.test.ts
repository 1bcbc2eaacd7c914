// The experiment's plan (two comparisons, seeds, shared runs), its aggregation (mean and spread over seeds, cost
// relative to natural) against hand-computed values, and one tiny run end to end on synthetic data, resumable
// from its result file; a run in use by another experiment is left alone, a cut metrics line is skipped, and
// --export copies the finished runs to a folder the runner continues.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { noPasses } from '../adversarial/method.js';
import { findDataset } from '../data/registry.js';
import { attacks, plan, PRESETS, type Preset } from '../experiment/plan.js';
import { comparisonChart, markdown, rows, stat } from '../experiment/report.js';
import { attackColumns, attackEntries, finished, runConfig, runOne, type RunResult } from '../experiment/runner.js';
import { RunFolder } from '../train/run-folder.js';
import { Trainer } from '../train/trainer.js';
import { ATTACKS, attackLimit, resolveAttack } from '../adversarial/attack-registry.js';
import type { AttackTotals } from '../adversarial/evaluate.js';
import { writeChart } from '../plot/render.js';
import { PALETTE } from '../plot/spec.js';
import { darkPixels, pixelsOf, readChart, rgb } from './chart-files.js';
import { runStatus, statusText } from '../experiment/status.js';
import { advfree } from './cli-run.js';
import { ready, withoutTimes } from './helpers.js';
import { synthetic } from './synthetic-run.js';

/** The quick preset shrunk to seconds: a WRN-10-1 on 16 training and 8 test examples, batch 8. */
const tinyPreset = (epochs: number, equalCost: string[]): Preset => ({
  ...PRESETS.quick,
  model: 'wrn-10-1',
  trainLimit: 16,
  batch: 8,
  epochs,
  equalCost,
  testImages: 8,
});

const t = suite('experiment');
t.before(ready);

t('the medium plan: equal epochs with seeds, equal cost, runs both comparisons need train once', () => {
  const { runs } = plan(PRESETS.medium);
  const ids = runs.map((r) => r.id);
  for (const s of [0, 1, 2]) {
    assert.ok(
      ids.includes(`natural-e8-s${s}`) && ids.includes(`free-8-e1-s${s}`) && ids.includes(`pgd-7-e8-s${s}`),
      `seed ${s}`,
    );
  }
  assert.ok(ids.includes('free-2-e4-s0') && ids.includes('free-4-e2-s0'));
  // 7-PGD under the equal budget gets 8 / 8 = 1 pass over the data; natural and free-8 are shared.
  assert.ok(ids.includes('pgd-7-e1-s0'));
  assert.equal(runs.find((r) => r.id === 'natural-e8-s0')!.comparisons, [1, 2]);
  assert.equal(runs.find((r) => r.id === 'free-8-e1-s1')!.comparisons, [1, 2]);
  assert.equal(runs.find((r) => r.id === 'pgd-7-e8-s0')!.comparisons, [1]);
  // Comparison 2 trains the first seed only; a stopped preset already holds every method of seed 0.
  assert.ok(!ids.includes('pgd-7-e1-s1') && !ids.includes('fgsm-rs-e4-s1'));
  const firstOther = runs.findIndex((r) => r.seed !== 0);
  assert.ok(
    runs.slice(firstOther).every((r) => r.seed !== 0),
    `seed-major order: ${ids}`,
  );
  assert.is(runs.filter((r) => r.seed === 0).length, firstOther);
  assert.is(new Set(ids).size, ids.length, 'no run twice');
});

t(
  "the mnist plan: Wong et al.'s recipe, free-m rounded up to whole passes, comparison 2 with every seed, their evaluation",
  () => {
    const p = PRESETS.mnist;
    const { runs } = plan(p);
    const seed0 = runs.filter((r) => r.seed === 0);
    assert.equal(
      seed0.map((r) => [r.id, r.comparisons]),
      [
        ['natural-e10-s0', [1]],
        ['free-4-e3-s0', [1]],
        ['free-8-e2-s0', [1]],
        ['natural-e20-s0', [2]],
        ['fgsm-rs-e10-s0', [2]],
        ['free-4-e5-s0', [2]],
        ['free-8-e3-s0', [2]],
        ['pgd-10-e10-s0', [1]],
      ],
    );
    assert.is(runs.length, 3 * seed0.length, 'three seeds of every run');
    assert.equal(
      runs.slice(-3).map((r) => r.id),
      ['pgd-10-e10-s0', 'pgd-10-e10-s1', 'pgd-10-e10-s2'],
      'the deferred PGD runs come last',
    );
    const method = (id: string) => runs.find((r) => r.id === id)!.method.config;
    assert.equal(method('fgsm-rs-e10-s0'), {
      name: 'fgsm-rs',
      stepSize: 0.375,
      attackBn: 'train',
      guard: false,
      fullAttackBackward: false,
    });
    assert.ok(
      Math.abs((method('pgd-10-e10-s0').stepSize as number) - 0.04) < 1e-12,
      "k·step = 0.4, as Madry's 40 x 0.01",
    );
    const c = runConfig(p, runs[0]);
    assert.equal(
      [
        c.data,
        c.model,
        c.classes,
        c.optimizer,
        c.schedule,
        c.lr,
        c.weightDecay,
        c.augment,
        c.trainLimit,
        c.testLimit,
        c.threat,
      ],
      ['mnist', 'mnist-net', 10, 'adam', 'cyclic:0.4', 5e-3, 0, false, null, null, { norm: 'linf', eps: 0.3 }],
    );
    const evals = attacks(
      p,
      ATTACKS.map((a) => a.name),
    );
    assert.equal(
      evals.map((e) => [e.attack.config, e.limit, e.seeds]),
      [
        [{ name: 'pgd', steps: 50, stepSize: 0.01, restarts: 10, loss: 'ce' }, 1000, undefined],
        [{ name: 'autoattack', queries: 5000 }, 500, [0]],
      ],
    );
    assert.equal(
      attackColumns(p, evals).map((col) => col.title),
      [
        'PGD-50x10 (first 1000)',
        'APGD-CE (first 500)',
        'APGD-T (first 500)',
        'FAB-T (first 500)',
        'Square (first 500)',
      ],
    );
    // Fashion-MNIST: the same at eps 0.1, every step in proportion.
    const f = PRESETS['fashion-mnist'];
    assert.equal(runConfig(f, plan(f).runs[0]).threat, { norm: 'linf', eps: 0.1 });
    assert.ok(
      Math.abs(
        (attacks(f, []).find((e) => e.attack.descriptor.name === 'pgd')!.attack.config.stepSize as number) - 0.1 / 30,
      ) < 1e-12,
    );
  },
);

t(
  'the tabular presets: both threat models of each dataset, comparison 1 with every seed, comparison 2 with the first',
  () => {
    for (const data of ['credit-g', 'spambase', 'lending-club', 'letter']) {
      for (const norm of ['l2', 'linf'] as const) {
        const p = PRESETS[`${data}-${norm}`];
        const { runs, skipped } = plan(p);
        assert.equal(skipped, [], `${data}-${norm}: every method applies`);
        const threat = runConfig(p, runs[0]).threat;
        assert.is(threat.norm, norm);
        assert.is(
          threat.eps,
          norm === 'l2' ? 0.5 : findDataset(data).otherThreats!.find((t) => t.norm === 'linf')!.eps,
        );
        const seeds = p.seeds.length;
        const labels = (c: number, s: number) =>
          runs
            .filter((r) => r.comparisons.includes(c) && r.seed === s)
            .map((r) => r.label)
            .sort();
        assert.equal(
          labels(1, p.seeds[seeds - 1]),
          ['free-2', 'free-4', 'free-8', 'natural', 'pgd-5'],
          `${data}-${norm}: comparison 1 on the last seed`,
        );
        // Comparison 2 trains seed 0; the other seeds of a run comparison 1 trains anyway (natural) count there too.
        assert.ok(
          runs.filter((r) => r.comparisons.includes(2) && r.seed !== 0).every((r) => r.comparisons.includes(1)),
          'comparison 2 trains seed 0 only',
        );
        // L2: the methods with an L2 step; L-inf: every registered method.
        assert.is(labels(2, 0).length, norm === 'l2' ? 5 : 10, `${data}-${norm}: ${labels(2, 0)}`);
      }
      // TabularBench's protocol: the same runs trained at L2 0.3, attacked at 0.5 as DATA-l2 attacks.
      const tb = PRESETS[`${data}-l2-train0.3`];
      const l2 = PRESETS[`${data}-l2`];
      assert.equal(
        plan(tb).runs.map((r) => r.id),
        plan(l2).runs.map((r) => r.id),
      );
      assert.ok(plan(tb).runs.every((r) => runConfig(tb, r).threat.eps === 0.3));
      assert.equal(attacks(tb, []), attacks(l2, []));
    }
  },
);

t('the report: minority-class recall columns for two-class data, averaged over seeds', () => {
  const run = (seed: number, recall: number, robust: number): RunResult => ({
    id: `natural-e1-s${seed}`,
    label: 'natural',
    seed,
    comparisons: [1],
    method: { name: 'natural' },
    passes_over_data: 1,
    train_passes: { ...noPasses(), forward: 4, backwardWeights: 4, sgdSteps: 4 },
    train_seconds: 10,
    epochs: [],
    clean_accuracy: 0.9,
    examples: 200,
    attacks: [{ name: 'pgd', description: 'PGD-50', examples: 200, accuracy: 0.5 }],
    eval_seconds: 1,
    minority: { class: 'bad', examples: 60, recall, attacks: [{ name: 'pgd', examples: 60, recall: robust }] },
  });
  const seed2 = run(2, 0.6, 0.3);
  seed2.minority!.attacks.push({ name: 'autoattack', examples: 60, recall: 0.1 });
  const all = rows([run(0, 0.5, 0.2), run(1, 0.7, 0.4), seed2]);
  assert.equal(
    [all[0].minority!.class, +all[0].minority!.clean.mean.toFixed(12), +all[0].minority!.attacks.pgd.mean.toFixed(12)],
    ['bad', 0.6, 0.3],
  );
  assert.equal(
    all[0].minority!.attacks.autoattack,
    { mean: 0.1, sd: 0 },
    'an attack of one seed averages that seed alone',
  );
  const md = markdown([], all, [{ name: 'pgd', title: 'PGD-50' }], []);
  assert.match(md, /\| method \| seeds \| passes over data \| clean \| PGD-50 \| bad recall \| bad recall, PGD-50 \|/);
  assert.match(md, /\| natural \| 3 \| 1 \| 90\.0% \| 50\.0% \| 60\.0% ± 10\.0 \| 30\.0% ± 10\.0 \| 10\.0% \|/);
});

t(
  'the medium evaluation chains APGD-CE and APGD-T as AutoAttack does; each stage is a column with its cumulative accuracy',
  () => {
    const specs = attacks(
      PRESETS.medium,
      ATTACKS.map((a) => a.name),
    );
    assert.equal(
      specs.map((s) => [s.attack.descriptor.name, attackLimit(s.attack), s.limit]),
      [
        ['pgd', null, null],
        ['aa-lite', 100, null],
      ],
    );
    assert.equal(attackColumns(PRESETS.medium, specs), [
      { name: 'pgd', title: 'PGD-20' },
      { name: 'apgd-ce', title: 'APGD-CE' },
      { name: 'apgd-t', title: 'APGD-T' },
    ]);
    const passes = { forward: 0, backwardInputOnly: 0 };
    const totals = (name: string, correct: number, stages: [string, number][] | null): AttackTotals => ({
      attack: resolveAttack({ name }),
      description: name,
      examples: 100,
      correct,
      seconds: 1,
      passes,
      skipped: [],
      stages:
        stages && stages.map(([n, robust]) => ({ name: n, description: n, attacked: 40, robust, seconds: 1, passes })),
    });
    const entries = attackEntries([
      totals('pgd', 30, null),
      totals('aa-lite', 21, [
        ['apgd-ce', 25],
        ['apgd-t', 21],
      ]),
    ]);
    assert.equal(
      entries.map((e) => [e.name, e.accuracy]),
      [
        ['pgd', 0.3],
        ['apgd-ce', 0.25],
        ['apgd-t', 0.21],
      ],
    );
    assert.match(entries[2].description, /APGD-CE left robust/);
  },
);

t('aggregation: mean and sample standard deviation over seeds, cost relative to natural', () => {
  const run = (
    label: string,
    seed: number,
    clean: number,
    pgd: number,
    seconds: number,
    forward: number,
  ): RunResult => ({
    id: `${label}-${seed}`,
    label,
    seed,
    comparisons: [1],
    method: { name: label },
    passes_over_data: 1,
    train_passes: { ...noPasses(), forward, backwardWeights: forward, sgdSteps: forward },
    train_seconds: seconds,
    epochs: [],
    clean_accuracy: clean,
    examples: 100,
    attacks: [{ name: 'pgd', description: 'PGD-20', examples: 100, accuracy: pgd }],
    eval_seconds: 1,
  });
  const rs = rows([
    run('natural', 0, 0.5, 0.1, 10, 4),
    run('natural', 1, 0.7, 0.3, 14, 4),
    run('free-8', 0, 0.4, 0.25, 12, 4),
  ]);
  const nat = rs.find((r) => r.label === 'natural')!;
  assert.is(nat.clean.mean, 0.6);
  assert.ok(Math.abs(nat.clean.sd - Math.SQRT2 * 0.1) < 1e-12, `sd ${nat.clean.sd}`);
  assert.equal(stat([3]), { mean: 3, sd: 0 });
  const free = rs.find((r) => r.label === 'free-8')!;
  assert.is(free.costVsNatural, 12 / 12);
  assert.is(free.attacks.pgd.mean, 0.25);
  assert.is(free.passesVsNatural, 1);
});

t('a tiny run trains, evaluates, and is then found finished', async () => {
  const p: Preset = tinyPreset(2, ['natural', 'free-2']);
  const { runs } = plan(p);
  assert.equal(
    runs.map((r) => r.id),
    ['natural-e2-s0', 'free-2-e1-s0'],
  );
  const out = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
  try {
    const data = { train: synthetic(16, 1), test: synthetic(8, 2) };
    // A run killed before its first checkpoint left only its metrics: kept aside, and the run starts over.
    const dir = join(out, 'runs', runs[1].id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'metrics.jsonl'), '{"type":"start"}\n');
    const res = await runOne(out, p, runs[1], attacks(p, []), data, () => {});
    const aside = readdirSync(dir).filter((f) => f.startsWith('metrics.jsonl.stopped-'));
    assert.is(aside.length, 1, `the stopped run's metrics kept aside: ${readdirSync(dir)}`);
    assert.is(readFileSync(join(dir, aside[0]), 'utf8'), '{"type":"start"}\n');
    assert.is(res.train_passes.sgdSteps, 2 * 2, 'free-2: 2 minibatches x 2 replays');
    assert.is(res.attacks[0].name, 'pgd');
    assert.is(res.attacks[0].examples, 8);
    assert.ok(res.attacks[0].accuracy <= res.clean_accuracy, 'robust <= clean');
    assert.equal(finished(out, runs[1]), res);
    assert.is(finished(out, runs[0]), null);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

t("trainEps: the methods train at its radius, every model is attacked at the threat model's", async () => {
  const p: Preset = { ...tinyPreset(1, ['fgsm-rs']), trainEps: 2 / 255 };
  const { runs } = plan(p);
  const run = runs.find((r) => r.label === 'fgsm-rs')!;
  assert.equal(runConfig(p, run).threat, { norm: 'linf', eps: 2 / 255 });
  // FGSM-RS's step follows the radius it trains at (1.25 eps).
  assert.ok(Math.abs((run.method.config.stepSize as number) - 1.25 * (2 / 255)) < 1e-12);
  const planned = attacks(p, []);
  const out = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
  try {
    const data = { train: synthetic(16, 1), test: synthetic(8, 2) };
    const res = await runOne(out, p, run, planned, data, () => {});
    const start = readFileSync(join(out, 'runs', run.id, 'metrics.jsonl'), 'utf8').split('\n')[0];
    assert.equal(JSON.parse(start).config.threat, { norm: 'linf', eps: 2 / 255 }, 'trained at 2/255');
    assert.match(res.attacks[0].description, /eps 8\/255/, `attacked at 8/255: ${res.attacks[0].description}`);
    // The preset without trainEps attacks the same way: its evaluation does not depend on the training radius.
    assert.equal(
      attacks(tinyPreset(1, ['fgsm-rs']), []).map((a) => a.attack.config),
      planned.map((a) => a.attack.config),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

t(
  "a second experiment takes a run's lock before touching its folder: a live run's files stay where they are",
  async () => {
    const p: Preset = tinyPreset(2, ['natural']);
    const [run] = plan(p).runs;
    const out = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
    try {
      const dir = join(out, 'runs', run.id);
      mkdirSync(dir, { recursive: true });
      // A run that trains now (this process holds its lock) and has written metrics, but no checkpoint yet.
      writeFileSync(join(dir, 'metrics.jsonl'), '{"type":"start"}\n');
      const live = RunFolder.open(dir, 'lock');
      const { started } = JSON.parse(readFileSync(join(dir, 'lock'), 'utf8'));
      try {
        await runOne(out, p, run, [], { train: synthetic(16, 1), test: synthetic(8, 2) }, () => {}).then(
          () => assert.unreachable('ran'),
          (e: Error) =>
            assert.is(
              e.message,
              `${dir} is in use by another run (process ${process.pid} on ${hostname()}, started ${started}): wait for it to finish or stop it (kill ${process.pid})`,
            ),
        );
        assert.equal(readdirSync(dir).sort(), ['lock', 'metrics.jsonl'], 'nothing moved aside');
        assert.is(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), '{"type":"start"}\n');
      } finally {
        live.release();
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
);

t(
  'a rerun over a trained run whose metrics end in a cut line: a warning naming the file and line, and the run is evaluated',
  async () => {
    const p: Preset = tinyPreset(1, ['natural']);
    const [run] = plan(p).runs;
    const out = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
    try {
      const data = { train: synthetic(16, 1), test: synthetic(8, 2) };
      const dir = join(out, 'runs', run.id);
      // Trained to the end, then killed while writing a metrics line, before its evaluation.
      const tr = new Trainer(runConfig(p, run), data);
      await tr.run({ out: dir, progress: false, log: () => {} });
      tr.dispose();
      const file = join(dir, 'metrics.jsonl');
      const n = readFileSync(file, 'utf8').split('\n').length;
      appendFileSync(file, '{"run":"x","type":"epo');
      const log: string[] = [];
      const res = await runOne(out, p, run, attacks(p, []), data, (l) => log.push(l));
      assert.ok(
        log.includes(
          `experiment: warning: ${file} line ${n} is cut short (22 bytes without a newline: a write interrupted by a kill or a full disk); skipped`,
        ),
        log.join('\n'),
      );
      assert.is(res.epochs.length, 1, 'the epoch line before it is read');
      assert.is(res.examples, 8);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
);

t(
  'the chart of a comparison: its data are the report rows, each method a point in its colour where the numbers put it',
  async () => {
    const run = (label: string, seed: number, pgd: number, forward: number): RunResult => ({
      id: `${label}-${seed}`,
      label,
      seed,
      comparisons: [1],
      method: { name: label },
      passes_over_data: 1,
      train_passes: { ...noPasses(), forward, backwardWeights: forward, sgdSteps: forward },
      train_seconds: 10,
      epochs: [],
      clean_accuracy: 0.5,
      examples: 100,
      attacks: [{ name: 'pgd', description: 'PGD-20', examples: 100, accuracy: pgd }],
      eval_seconds: 1,
    });
    const all = rows([run('natural', 0, 0.1, 4), run('natural', 1, 0.3, 4), run('pgd-7', 0, 0.4, 32)]);
    const pgd20 = { name: 'pgd', title: 'PGD-20' };
    assert.is(comparisonChart(['t'], all, 2, pgd20), null, 'no chart for a comparison without runs');
    const dir = mkdtempSync(join(tmpdir(), 'advfree-chart-'));
    try {
      const out = join(dir, 'chart-equal-epochs.png');
      await writeChart(out, comparisonChart(['equal epochs', 'a subtitle'], all, 1, pgd20)!);
      const { spec, png } = readChart(out);
      // natural: PGD-20 mean 0.2, sample sd 0.1·√2, 1x natural's passes; pgd-7: 0.4, one seed, 8x the passes.
      const values = spec.data!.values as { label: string; x: number; y: number; spread: number }[];
      assert.equal(
        values.map((v) => [v.label, v.x]),
        [
          ['natural', 1],
          ['pgd-7', 8],
        ],
      );
      assert.ok(
        Math.abs(values[0].y - 0.2) < 1e-12 && Math.abs(values[0].spread - Math.SQRT2 * 0.1) < 1e-12,
        JSON.stringify(values[0]),
      );
      assert.equal([values[1].y, values[1].spread], [0.4, 0]);
      // Filled points in the palette's first two colours: pgd-7's right of and above natural's; natural's error bar
      // (±0.14) spans far more rows than pgd-7's point alone.
      const blob = (hex: string) => {
        const ps = pixelsOf(png, rgb(hex));
        const ys = ps.map(([, y]) => y);
        return {
          n: ps.length,
          x: ps.reduce((s, [x]) => s + x, 0) / ps.length,
          top: Math.min(...ys),
          bottom: Math.max(...ys),
        };
      };
      const nat = blob(PALETTE[0]);
      const pgd = blob(PALETTE[1]);
      assert.ok(nat.n > 50 && pgd.n > 50, `points drawn (${nat.n}, ${pgd.n} pixels)`);
      assert.ok(pgd.x > nat.x + png.width / 3, 'pgd-7 right of natural');
      assert.ok(pgd.bottom < nat.top + (nat.bottom - nat.top) / 2, 'pgd-7 above natural');
      const [natRows, pgdRows] = [nat.bottom - nat.top, pgd.bottom - pgd.top];
      assert.ok(natRows > 3 * pgdRows, `natural's error bar (${natRows} rows vs ${pgdRows})`);
      assert.ok(darkPixels(png, 0, 2 * (12 + 18)) > 100, 'title drawn');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/** A stop signal that fires at its `at`-th look: the trainer looks once before its first minibatch and twice after each. */
function stopAt(at: number): AbortSignal {
  let looks = 0;
  const reason = new Error('stop');
  return {
    get aborted() {
      return ++looks >= at;
    },
    reason,
    throwIfAborted() {
      if (looks >= at) throw reason;
    },
  } as unknown as AbortSignal;
}

t(
  'a run stopped mid-epoch, then mid-evaluation, resumes to the result of an uninterrupted run, number for number',
  async () => {
    const p: Preset = tinyPreset(2, ['natural']);
    const run = plan(p).runs[0];
    assert.is(run.id, 'natural-e2-s0');
    const out = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
    const other = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
    try {
      const data = { train: synthetic(16, 1), test: synthetic(8, 2) };
      const specs = attacks(p, []);
      const rejection = (q: Promise<unknown>) =>
        q.then(
          () => assert.unreachable('expected runOne to be stopped'),
          (e: Error) => e.message,
        );
      const whole = await runOne(other, p, run, specs, data, () => {});
      const dir = join(out, 'runs', run.id);
      // Stopped after its first minibatch (of 2 x 2): checkpointed there, no result, the lock released.
      assert.is(await rejection(runOne(out, p, run, specs, data, () => {}, stopAt(2))), 'stop');
      assert.is(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'checkpoints/step-000001');
      assert.not.ok(existsSync(join(dir, 'result.json')) || existsSync(join(dir, 'lock')));
      assert.equal(runStatus(out, run), {
        id: run.id,
        state: 'stopped',
        detail: '0 of 2 epochs, checkpoint at step 1',
      });
      // Resumed, trained to the end, then stopped at its evaluation's first batch: still no result.
      const ctl = new AbortController();
      assert.is(
        await rejection(
          runOne(
            out,
            p,
            run,
            specs,
            data,
            (l) => l.includes('evaluating') && ctl.abort(new Error('stop in evaluation')),
            ctl.signal,
          ),
        ),
        'stop in evaluation',
      );
      assert.is(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'checkpoints/step-000004');
      assert.not.ok(existsSync(join(dir, 'result.json')));
      const res = await runOne(out, p, run, specs, data, () => {});
      assert.equal(withoutTimes(res), withoutTimes(whole));
      assert.is(res.train_passes.sgdSteps, 4);
      const resumes = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"resume"'))
        .map((l) => JSON.parse(l).from);
      assert.equal(
        resumes,
        ['checkpoints/step-000001'],
        'resumed once from the stop checkpoint; the evaluation needed no training',
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  },
);

t('status: done with its accuracies, running with the lock holder, stopped with its progress, not started', () => {
  const p: Preset = { ...PRESETS.quick, equalCost: ['natural', 'free-2', 'free-4', 'pgd-7'] };
  const runs = plan(p).runs;
  const out = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
  try {
    const dir = (i: number) => {
      const d = join(out, 'runs', runs[i].id);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const result = { clean_accuracy: 0.5, attacks: [{ name: 'pgd', accuracy: 0.25 }] };
    writeFileSync(join(dir(0), 'result.json'), JSON.stringify(result));
    writeFileSync(
      join(dir(1), 'lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), started: 'T0', job: '12' }),
    );
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(dir(2), 'lock'), JSON.stringify({ pid: dead, host: hostname(), started: 'T1' }));
    writeFileSync(join(dir(2), 'latest'), 'checkpoints/step-000030\n');
    writeFileSync(
      join(dir(2), 'metrics.jsonl'),
      '{"type":"start"}\n{"type":"epoch","epoch":1}\n{"type":"epoch","epoch":2}\n{"type":"epoch","epoch":2}\n{"type":"ep',
    );
    const w = Math.max(...runs.map((r) => r.id.length));
    const ids = runs.map((r) => r.id.padEnd(w));
    assert.is(
      statusText(runs.map((r) => runStatus(out, r))),
      [
        `${ids[0]}  done         clean 50.0%, pgd 25.0%`,
        `${ids[1]}  running      process ${process.pid} on ${hostname()}, started T0, Slurm job 12; 0 of ${runs[1].epochs} epochs`,
        `${ids[2]}  stopped      2 of ${runs[2].epochs} epochs, checkpoint at step 30 (its lock names process ${dead} on ${hostname()}, started T1, which no longer runs)`,
        `${ids[3]}  not started`,
        '',
        '4 runs: 1 done, 1 running, 1 stopped, 1 not started',
      ].join('\n'),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

t('--task with --preset writes the plan to a new --out, then trains and evaluates that one run only', () => {
  const runs = plan(PRESETS.tiny).runs;
  const out = join(mkdtempSync(join(tmpdir(), 'advfree-exp-')), 'tiny');
  try {
    const r = advfree(['experiment', '--preset', 'tiny', '--out', out, '--task', runs[0].id]);
    assert.is(r.status, 0, r.stderr);
    assert.is(JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')).preset, 'tiny');
    assert.equal(
      runs.map((run) => finished(out, run) !== null),
      runs.map((_, i) => i === 0),
    );
    // The folder's plan then serves --task alone; a run done is not run again.
    assert.match(advfree(['experiment', '--out', out, '--task', runs[0].id]).stderr, /already done/);
    // Another experiment's settings over it are refused, before any work.
    const other = advfree(['experiment', '--preset', 'quick', '--out', out, '--task', runs[1].id]);
    assert.is(other.status, 2);
    assert.match(other.stderr, /holds an experiment with other settings/);
    assert.is(finished(out, runs[1]), null);
    // The same settings with seeds added after its own grow the folder's plan; its runs stay done.
    const grown = advfree(['experiment', '--preset', 'tiny', '--seeds', '0,1', '--out', out, '--task', runs[0].id]);
    assert.is(grown.status, 0, grown.stderr);
    assert.match(grown.stderr, /the plan grows to seeds 0, 1; the runs it holds stay/);
    assert.match(grown.stderr, /already done/);
    assert.equal(JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')).settings.seeds, [0, 1]);
    // Fewer seeds, others in their place, or more seeds with another setting changed: another experiment.
    for (const flags of [
      ['--seeds', '0'],
      ['--seeds', '1,0,2'],
      ['--seeds', '0,1,2', '--epochs', '5'],
    ]) {
      const r = advfree(['experiment', '--preset', 'tiny', ...flags, '--out', out, '--task', runs[0].id]);
      assert.is(r.status, 2, flags.join(' '));
      assert.match(r.stderr, /holds an experiment with other settings/);
    }
    assert.equal(JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')).settings.seeds, [0, 1]);
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
});

t(
  "--export: the finished runs' results and metrics, the plan and the report, in a folder the runner continues; never over other results unasked",
  () => {
    const runs = plan(PRESETS.tiny).runs;
    const root = mkdtempSync(join(tmpdir(), 'advfree-exp-'));
    const out = join(root, 'tiny');
    const dest = join(root, 'results');
    const id = runs[0].id;
    try {
      assert.is(advfree(['experiment', '--preset', 'tiny', '--out', out, '--task', id]).status, 0);
      const r = advfree(['experiment', '--out', out, '--export', dest]);
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stderr, /finished runs added 1, replaced 0, unchanged 0/);
      // The run's two small files, byte for byte; not its checkpoints, weights or lock.
      assert.equal(readdirSync(join(dest, 'runs')), [id]);
      assert.equal(readdirSync(join(dest, 'runs', id)).sort(), ['metrics.jsonl', 'result.json']);
      for (const f of ['metrics.jsonl', 'result.json'])
        assert.ok(readFileSync(join(dest, 'runs', id, f)).equals(readFileSync(join(out, 'runs', id, f))), f);
      assert.is(readFileSync(join(dest, 'plan.json'), 'utf8'), readFileSync(join(out, 'plan.json'), 'utf8'));
      const md = readFileSync(join(dest, 'experiment.md'), 'utf8');
      assert.match(md, /Exported from/);
      assert.match(md, new RegExp(`Partial: 1 of ${runs.length} runs done; still to run: ${runs[1].id}`));
      // The copy is an experiment folder: --status reads it and the runner skips what it holds.
      assert.match(advfree(['experiment', '--out', dest, '--status']).stdout, new RegExp(`${id}\\s+done`));
      assert.match(advfree(['experiment', '--out', dest, '--task', id]).stderr, /already done/);
      // Again: nothing new. Other results there are refused, nothing written, unless --force.
      assert.match(advfree(['experiment', '--out', out, '--export', dest]).stderr, /added 0, replaced 0, unchanged 1/);
      const theirs = join(dest, 'runs', id, 'metrics.jsonl');
      writeFileSync(theirs, '{"type":"start"}\n');
      const refused = advfree(['experiment', '--out', out, '--export', dest]);
      assert.is(refused.status, 2);
      assert.match(refused.stderr, new RegExp(`nothing written; .*holds other results of ${id} \\(pass --force`));
      assert.is(readFileSync(theirs, 'utf8'), '{"type":"start"}\n');
      assert.match(advfree(['experiment', '--out', out, '--export', dest, '--force']).stderr, /added 0, replaced 1,/);
      assert.ok(readFileSync(theirs).equals(readFileSync(join(out, 'runs', id, 'metrics.jsonl'))));
      // A plan grown in --out grows the copy's: the same plan.json there, its runs kept.
      assert.is(advfree(['experiment', '--preset', 'tiny', '--seeds', '0,1', '--out', out, '--task', id]).status, 0);
      const g = advfree(['experiment', '--out', out, '--export', dest]);
      assert.match(g.stderr, /--export .*: the plan grows to seeds 0, 1;.*\n.*unchanged 1/s);
      assert.is(readFileSync(join(dest, 'plan.json'), 'utf8'), readFileSync(join(out, 'plan.json'), 'utf8'));
      // A run training there (its own files) is never touched, --force or not.
      writeFileSync(join(dest, 'runs', id, 'lock'), '{}');
      assert.match(
        advfree(['experiment', '--out', out, '--export', dest, '--force']).stderr,
        /holds lock \(a run's own files\), not an export/,
      );
      const alone = advfree(['experiment', '--out', out, '--force']);
      assert.is(alone.status, 2);
      assert.match(alone.stderr, /--force goes with --export/);
      // A folder of something else, or of another experiment, is refused.
      const other = join(root, 'other');
      mkdirSync(other);
      writeFileSync(join(other, 'experiment.md'), 'mine\n');
      const o = advfree(['experiment', '--out', out, '--export', other]);
      assert.is(o.status, 2);
      assert.match(o.stderr, /already holds experiment\.md/);
      assert.is(readFileSync(join(other, 'experiment.md'), 'utf8'), 'mine\n');
      writeFileSync(join(dest, 'plan.json'), JSON.stringify({ preset: 'quick', settings: PRESETS.quick }));
      assert.match(advfree(['experiment', '--out', out, '--export', dest]).stderr, /holds another experiment/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);

t.run();
