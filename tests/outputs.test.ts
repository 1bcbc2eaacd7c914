// The output rule of every command that writes a file (plot, show, eval --save-predictions, bench, experiment):
// --force may replace an earlier output, never an input nor a file a run folder owns (its models, metrics,
// pointer, lock, checkpoints), even through a symbolic link; all of it checked before any work.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { plot } from '../bin/plot.js';
import { show } from '../bin/show.js';
import { evaluate } from '../bin/eval.js';
import { bench } from '../bin/bench.js';
import { experiment } from '../bin/experiment.js';
import { Trainer } from '../train/trainer.js';
import { ready } from './helpers.js';
import { usageError } from './cli-run.js';
import { config, DATA } from './synthetic-run.js';

const t = suite('outputs');
t.before(ready);

const tmp = mkdtempSync(join(tmpdir(), 'advfree-outputs-'));
t.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Every file under `dir` with its SHA-256, to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

t("plot, show and eval --save-predictions: --force never replaces a run's files, named or linked", async () => {
  const run = join(tmp, 'run');
  const tr = new Trainer(config(), DATA);
  await tr.run({ out: run, maxSteps: 4, progress: false, log: () => {} });
  tr.dispose();
  const other = join(tmp, 'other.safetensors');
  copyFileSync(join(run, 'model.safetensors'), other);
  const link = join(tmp, 'link.safetensors');
  symlinkSync(join(run, 'model.safetensors'), link);
  const before = snapshot(run);
  const owned = (cmd: string, flag: string, path: string) =>
    `CliError: ${cmd}: ${flag} ${path} belongs to the run in ${run} (a file its training writes); --force never replaces a run's files: choose another name`;
  const targets = [
    'model.safetensors',
    'metrics.jsonl',
    'latest',
    'lock',
    'train-state.safetensors',
    'checkpoints/step-000004/model.safetensors',
  ].map((f) => join(run, f));
  for (const target of targets) {
    assert.is(await usageError(plot, run, '--out', target, '--force'), owned('plot', '--out', target));
    assert.is(
      await usageError(show, '--checkpoint', other, '--out', target, '--force'),
      owned('show', '--out', target),
    );
    assert.is(
      await usageError(evaluate, '--checkpoint', other, '--save-predictions', target, '--force'),
      owned('eval', '--save-predictions', target),
    );
  }
  assert.is(await usageError(plot, run, '--out', link, '--force'), owned('plot', '--out', link));
  assert.equal(snapshot(run), before, 'nothing in the run folder changed');
  // A new file beside the run's own ones is fine, and --force replaces that earlier output.
  const png = join(run, 'curves.png');
  writeFileSync(png, 'an earlier plot');
  const log = console.log;
  console.log = () => {};
  try {
    assert.is(await plot.run({ runs: [run], out: png, force: true }), 0);
  } finally {
    console.log = log;
  }
  assert.ok(statSync(png).size > 100, 'replaced by the new plot');
});

t(
  'bench: --out is checked before the benchmark: a file, or the report of an earlier one without --force, is refused',
  async () => {
    const dir = join(tmp, 'bench');
    mkdirSync(dir);
    writeFileSync(join(dir, 'report.md'), 'an earlier benchmark');
    assert.is(
      await usageError(bench, '--out', dir, '--preset', 'tiny'),
      `CliError: bench: --out ${dir} already holds report.md (an earlier output); pass --force to replace it, or choose another folder`,
    );
    const file = join(tmp, 'bench.txt');
    writeFileSync(file, 'mine');
    assert.is(
      await usageError(bench, '--out', file, '--preset', 'tiny'),
      `CliError: bench: --out ${file} is a file; give a folder`,
    );
    assert.equal(readdirSync(dir), ['report.md']);
    assert.is(readFileSync(join(dir, 'report.md'), 'utf8'), 'an earlier benchmark');
    assert.is(readFileSync(file, 'utf8'), 'mine');
  },
);

t(
  'experiment: --out naming a file, or a folder of reports no experiment wrote, is refused before any work',
  async () => {
    const file = join(tmp, 'exp.txt');
    writeFileSync(file, 'mine');
    assert.is(
      await usageError(experiment, '--out', file, '--preset', 'quick'),
      `CliError: experiment: --out ${file} is a file; give a folder`,
    );
    const dir = join(tmp, 'reports');
    mkdirSync(dir);
    writeFileSync(join(dir, 'experiment.md'), 'my notes');
    assert.is(
      await usageError(experiment, '--out', dir, '--preset', 'quick'),
      `CliError: experiment: --out ${dir} already holds experiment.md (an earlier output); no experiment wrote ${dir} (it has no plan.json): choose another --out`,
    );
    assert.equal(readdirSync(dir), ['experiment.md']);
    assert.is(readFileSync(file, 'utf8'), 'mine');
  },
);

t.run();
