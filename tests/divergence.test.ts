// Results that are not numbers: a run that diverges stops (exit 1 through the CLI) naming the step, the first
// non-finite tensor and the last finite checkpoint, which survives with every pair finite; a checkpoint holding
// NaN, Inf or a negative batch-norm running variance is refused by eval, show and resume, naming each tensor and
// its counts. The divergences are real ones (lr 10, weight decay 1, momentum 0.99 on the synthetic task).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Trainer } from '../train/trainer.js';
import { readSafetensorsFile } from '../nn/safetensors-file.js';
import { encodeSafetensors, type SafetensorsEntry } from '../nn/safetensors.js';
import { openCheckpoint } from '../nn/checkpoint-reader.js';
import { ready, scratch } from './helpers.js';
import { cliRefuses } from './cli-run.js';
import { config, DATA, lines, synthetic } from './synthetic-run.js';

const t = suite('divergence');
t.before(ready);

const { tmp, fresh } = scratch(t, 'divergence');
const quiet = { progress: false, log: () => {} };
const DIVERGING = { lr: 10, weightDecay: 1, momentum: 0.99, schedule: 'constant' };

/** NaN and Inf counted here, apart from the code under test. */
const count = (data: Float32Array) => ({
  nan: data.filter((v) => Number.isNaN(v)).length,
  inf: data.filter((v) => v === Infinity || v === -Infinity).length,
});

/** Every F32 tensor of every pair in DIR/checkpoints is finite (and each running_var >= 0). */
async function assertPairsFinite(dir: string): Promise<string[]> {
  const pairs = readdirSync(join(dir, 'checkpoints')).sort();
  for (const p of pairs) {
    assert.match(p, /^step-\d{6}$/, `only complete pairs, no temporary folder: ${pairs}`);
    for (const f of ['model.safetensors', 'train-state.safetensors']) {
      const { tensors } = await readSafetensorsFile(join(dir, 'checkpoints', p, f));
      for (const [name, x] of Object.entries(tensors)) {
        if (x.dtype !== 'F32') continue;
        const c = count(x.data);
        assert.equal(c, { nan: 0, inf: 0 }, `${p}/${f}: ${name}`);
        if (name.endsWith('running_var'))
          assert.ok(
            x.data.every((v) => v >= 0),
            `${p}/${f}: ${name} >= 0`,
          );
      }
    }
  }
  return pairs;
}

/** Runs `tr` into `dir`, which must fail; returns the message. */
async function diverges(tr: Trainer, dir: string): Promise<string> {
  try {
    await tr.run({ out: dir, ...quiet });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the run did not stop');
}

const ADVICE =
  'Resuming would repeat the same steps: start a new run with another --out and a lower --lr (or --weight-decay, --momentum)';

t(
  'a NaN loss stops the run at the readback, naming the step and the first non-finite weight; the finite checkpoint survives',
  async () => {
    const dir = fresh();
    // Batch 2 of 96 images: 48 steps an epoch, so the loss turns NaN between two epoch checkpoints.
    const data = { train: synthetic(96, 1), test: DATA.test };
    const first = new Trainer(config({ ...DIVERGING, batch: 2, epochs: 3, logEvery: 1000 }), data);
    await first.run({ out: dir, maxSteps: 8, ...quiet });
    first.dispose();
    const tr = await Trainer.resume(dir, async () => data);
    const message = await diverges(tr, dir);
    const m =
      /^training diverged: the loss of step (\d+) is NaN; at step (\d+) the first non-finite tensor is '([^']+)' \((\d+) NaN of (\d+) values\) \((\d+) tensors hold such values\)\. Stopped without checkpointing it: the last finite checkpoint, (.+), is intact\. (.+)$/.exec(
        message,
      );
    assert.ok(m, message);
    const [, lossStep, at, name, nan, size, , pair, advice] = m!;
    assert.ok(
      Number(lossStep) > 8 && Number(lossStep) <= Number(at),
      `${lossStep} after the checkpoint, at or before ${at}`,
    );
    assert.is(Number(at), tr.stepsDone);
    assert.is(pair, join(dir, 'checkpoints', 'step-000008'));
    assert.is(advice, ADVICE);
    // The named parameter holds what the message says, and every parameter before it (state_dict order) is finite.
    const params = tr.model.namedParameters();
    const k = params.findIndex(([n]) => n === name);
    assert.ok(k >= 0, `'${name}' is a parameter`);
    for (const [n, p] of params.slice(0, k)) assert.equal(count(await p.tensor.data()), { nan: 0, inf: 0 }, n);
    const named = await params[k][1].tensor.data();
    assert.equal(count(named), { nan: Number(nan), inf: 0 });
    assert.is(named.length, Number(size));
    tr.dispose();
    assert.equal(await assertPairsFinite(dir), ['step-000008'], 'the finite pair kept, no NaN pair written');
    assert.is(readFileSync(join(dir, 'latest'), 'utf8'), 'checkpoints/step-000008\n');
    const last = lines(join(dir, 'metrics.jsonl')).at(-1)!;
    assert.equal([last.type, last.step, last.loss], ['diverged', Number(lossStep), 'NaN']);
    assert.not.ok(existsSync(join(dir, 'lock')), 'the lock is released');
    // The survivor resumes (and, being deterministic, diverges again the same way).
    const again = await Trainer.resume(dir, async () => data);
    assert.is(again.stepsDone, 8);
    again.dispose();
  },
);

t('a running variance that overflows stops the run at the checkpoint; no finite pair is pruned for it', async () => {
  const dir = fresh();
  const tr = new Trainer(config({ ...DIVERGING, epochs: 30 }), DATA);
  const message = await diverges(tr, dir);
  const m =
    /^training diverged: at step (\d+) the first non-finite tensor is '([^']+)' \((\d+) Inf of (\d+) values\)(?: \(\d+ tensors hold such values\))?, found before its checkpoint \(the losses read back so far are finite\)\. Stopped without checkpointing it: the last finite checkpoint, (.+), is intact\. (.+)$/.exec(
      message,
    );
  assert.ok(m, message);
  const [, at, name, inf, , pair, advice] = m!;
  assert.match(name, /running_var$/);
  assert.is(advice, ADVICE);
  const bufs = Object.fromEntries(tr.model.namedBuffers().flatMap(([n, b]) => ('tensor' in b ? [[n, b.tensor]] : [])));
  assert.equal(count(await bufs[name].data()), { nan: 0, inf: Number(inf) });
  // Checkpoints come at each epoch's end (3 steps): the two before the divergence, both finite.
  const last = Number(at) - 3;
  assert.is(pair, join(dir, 'checkpoints', `step-${String(last).padStart(6, '0')}`));
  const pairs = await assertPairsFinite(dir);
  assert.equal(
    pairs,
    [last - 3, last].map((s) => `step-${String(s).padStart(6, '0')}`),
  );
  tr.dispose();
});

/** The model of `run`'s step-3 pair with the given values poisoned, in a new file. */
async function poisoned(run: string, poison: Record<string, [number, number][]>): Promise<string> {
  const { tensors, metadata } = await readSafetensorsFile(join(run, 'checkpoints', 'step-000003', 'model.safetensors'));
  for (const [name, at] of Object.entries(poison)) for (const [i, v] of at) (tensors[name].data as Float32Array)[i] = v;
  const out = join(fresh(), 'poisoned.safetensors');
  writeFileSync(out, encodeSafetensors(tensors as Record<string, SafetensorsEntry>, metadata));
  return out;
}

t(
  'a checkpoint with NaN/Inf weights or a NaN/negative running_var is refused by eval, show and resume, naming tensors and counts',
  async () => {
    const run = fresh();
    const tr = new Trainer(config({ epochs: 1 }), DATA);
    await tr.run({ out: run, ...quiet });
    tr.dispose();
    const file = await poisoned(run, {
      'conv1.weight': [
        [0, NaN],
        [5, Infinity],
        [7, -Infinity],
      ],
      'block1.layer.0.bn1.running_var': [[3, NaN]],
      'bn1.running_var': [
        [0, -0.5],
        [1, -1e-30],
      ],
    });
    const message =
      `${file}: 3 of its 39 tensors hold values a model cannot be used with (NaN, Inf, or a negative batch-norm running_var: ` +
      "the run diverged or the file is damaged): 'block1.layer.0.bn1.running_var' (1 NaN of 16 values), 'bn1.running_var' (2 negative of 64 values), " +
      "'conv1.weight' (1 NaN, 2 Inf of 432 values); refusing to load it. Use an earlier checkpoint of the run (its checkpoints/ folder)";
    await openCheckpoint(file).then(
      () => assert.unreachable('opened'),
      (e: Error) => assert.is(e.message, message),
    );
    cliRefuses(['eval', '--checkpoint', file], 1, message);
    cliRefuses(['show', '--checkpoint', file, '--out', join(tmp, 'grid.png')], 1, message);
    assert.not.ok(existsSync(join(tmp, 'grid.png')));
    // The same file as a run's pair: resume refuses it too.
    writeFileSync(join(run, 'checkpoints', 'step-000003', 'model.safetensors'), readFileSync(file));
    await Trainer.resume(run, async () => DATA).then(
      () => assert.unreachable('resumed'),
      (e: Error) =>
        assert.is(e.message, message.replace(file, join(run, 'checkpoints', 'step-000003', 'model.safetensors'))),
    );
  },
);

t.run();
