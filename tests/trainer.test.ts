// The training loop on a tiny synthetic CIFAR-shaped dataset: it learns, it writes metrics and checkpoints, and
// a run stopped anywhere (mid-epoch, on an epoch's last batch) and resumed from its folder ends exactly where an
// uninterrupted run ends, with the same metrics lines.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noPasses } from '../adversarial/method.js';
import { readCheckpointMetadata } from '../nn/checkpoint.js';
import { loadTrainState, type TrainState } from '../train/train-state.js';
import { Trainer } from '../train/trainer.js';
import { savedRunConfig } from '../train/run-config.js';
import { ready } from './helpers.js';
import { config, DATA, lines, synthetic, weights } from './synthetic-run.js';

const t = suite('trainer');
t.before(ready);

/** The metrics lines that describe training (steps, epochs, guard checks), without run ids and timings. */
function record(dir: string): Record<string, unknown>[] {
  const timing = new Set(['run', 'seconds', 'images_per_second', 'gpu_bytes_in_use']);
  return lines(join(dir, 'metrics.jsonl'))
    .filter((l) => ['step', 'epoch', 'guard'].includes(l.type as string))
    .map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => !timing.has(k))));
}

const quiet = { progress: false, log: () => {} };

/** Runs `fn` with fresh temporary folders, removed afterwards. */
async function inDirs(n: number, fn: (...dirs: string[]) => Promise<void>): Promise<void> {
  const dirs = Array.from({ length: n }, () => mkdtempSync(join(tmpdir(), 'advfree-trainer-')));
  try {
    await fn(...dirs);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

t('a run stopped mid-epoch and resumed ends where an uninterrupted run ends, logging the same lines', () =>
  inDirs(2, async (dirA, dirB) => {
    const a = new Trainer(config(), DATA);
    const sa = await a.run({ out: dirA, ...quiet });
    assert.is(sa.length, 2);
    const wa = await weights(a);

    const b1 = new Trainer(config(), DATA);
    const partial = await b1.run({ out: dirB, maxSteps: 4, ...quiet });
    assert.is(partial.length, 1, 'the first epoch (3 batches) completed before step 4');
    b1.dispose();
    const b2 = await Trainer.resume(dirB, async () => DATA);
    assert.is(b2.stepsDone, 4);
    assert.is(b2.runId, b1.runId, 'the run id is kept across the resume');
    assert.is.not(b2.runId, a.runId);
    const sb = await b2.run({ out: dirB, ...quiet });
    const wb = await weights(b2);
    wa.forEach((w, i) => assert.equal(Array.from(wb[i]), Array.from(w), `parameter ${i} identical after resume`));
    assert.is(sb.at(-1)!.trainLoss, sa.at(-1)!.trainLoss, 'last epoch train loss');
    assert.is(sb.at(-1)!.testAccuracy, sa.at(-1)!.testAccuracy, 'last epoch test accuracy');
    assert.equal(b2.totalPasses, a.totalPasses, 'pass counters carried over');

    // --log-every 2: step lines exactly at steps 2, 4, 6, in both runs; the epoch lines at the epochs' last steps.
    assert.equal(record(dirB), record(dirA));
    assert.equal(
      record(dirA).map((l) => `${l.type}@${l.step}`),
      ['step@2', 'epoch@3', 'step@4', 'step@6', 'epoch@6'],
    );
    assert.is(record(dirA)[4].train_loss, sa[1].trainLoss);
    const all = lines(join(dirB, 'metrics.jsonl'));
    for (const l of all) {
      assert.is(l.run, b2.runId, `every line carries the run id: ${JSON.stringify(l)}`);
      assert.ok(Number.isInteger(l.step), `every line carries the step: ${JSON.stringify(l)}`);
    }
    assert.equal(
      all.filter((l) => l.type === 'start' || l.type === 'resume').map((l) => [l.type, l.step, l.from ?? null]),
      [
        ['start', 0, null],
        ['resume', 4, 'checkpoints/step-000004'],
      ],
    );
    // The pair written last and the one before it are kept; DIR/model.safetensors is the latest model.
    assert.is(readFileSync(join(dirB, 'latest'), 'utf8'), 'checkpoints/step-000006\n');
    assert.equal(readdirSync(join(dirB, 'checkpoints')).sort(), ['step-000004', 'step-000006']);
    assert.ok(
      readFileSync(join(dirB, 'model.safetensors')).equals(
        readFileSync(join(dirB, 'checkpoints/step-000006/model.safetensors')),
      ),
    );
    a.dispose();
    b2.dispose();
  }),
);

t(
  "--max-steps on an epoch's last batch: that epoch's record, evaluation and guard check are kept; resume is exact",
  () =>
    inDirs(2, async (dirA, dirB) => {
      const fgsm = config({ method: { name: 'fgsm-rs', guard: true } });
      const a = new Trainer(fgsm, DATA);
      const sa = await a.run({ out: dirA, ...quiet });
      const b1 = new Trainer(fgsm, DATA);
      const first = await b1.run({ out: dirB, maxSteps: 3, ...quiet });
      assert.equal(
        first.map((e) => e.epoch),
        [1],
        'epoch 1 ends at step 3 and is recorded before the stop',
      );
      assert.is(b1.stepsDone, 3);
      b1.dispose();
      const b2 = await Trainer.resume(dirB, async () => DATA);
      const rest = await b2.run({ out: dirB, ...quiet });
      assert.equal(
        rest.map((e) => e.epoch),
        [2],
      );
      assert.equal(
        [...first, ...rest].map((e) => [e.trainLoss, e.testAccuracy, e.passes]),
        sa.map((e) => [e.trainLoss, e.testAccuracy, e.passes]),
        'per-epoch results and pass counts',
      );
      assert.equal(
        rest[0].passes,
        { ...noPasses(), forward: 6, backwardWeights: 3, backwardInputOnly: 3, sgdSteps: 3 },
        'epoch 2 counts its own 3 batches only',
      );
      const rec = record(dirB);
      assert.equal(
        rec.filter((l) => l.type === 'guard').map((l) => l.epoch),
        [1, 2],
        'a guard check after every epoch',
      );
      assert.equal(rec, record(dirA));
      assert.equal(b2.totalPasses, a.totalPasses);
      a.dispose();
      b2.dispose();
    }),
);

t('resume with --max-steps at the checkpoint trains nothing; a lower one is refused; --epochs extends the run', () =>
  inDirs(1, async (dir) => {
    const b1 = new Trainer(config(), DATA);
    await b1.run({ out: dir, maxSteps: 4, ...quiet });
    const w1 = await weights(b1);
    b1.dispose();
    const b2 = await Trainer.resume(dir, async () => DATA);
    assert.equal(await b2.run({ out: dir, maxSteps: 4, ...quiet }), []);
    assert.is(b2.stepsDone, 4, 'no step beyond --max-steps');
    const w2 = await weights(b2);
    w1.forEach((w, i) => assert.equal(Array.from(w2[i]), Array.from(w), `parameter ${i} unchanged`));
    try {
      await b2.run({ out: dir, maxSteps: 3, ...quiet });
      assert.unreachable('--max-steps below the checkpoint was accepted');
    } catch (e) {
      assert.is(
        (e as Error).message,
        `--max-steps 3 is below step 4, where the run in ${dir} already is; give --max-steps 4 or more`,
      );
    }
    b2.dispose();
    assert.is(readFileSync(join(dir, 'latest'), 'utf8'), 'checkpoints/step-000004\n', 'no checkpoint written');

    const b3 = await Trainer.resume(dir, async () => DATA, { epochs: 3, logEvery: 3, checkpointMinutes: 60 });
    const s3 = await b3.run({ out: dir, ...quiet, context: { max_steps: null } });
    assert.equal(
      s3.map((e) => e.epoch),
      [2, 3],
    );
    assert.is(b3.stepsDone, 9);
    const resumes = lines(join(dir, 'metrics.jsonl')).filter((l) => l.type === 'resume');
    assert.is(resumes.length, 2);
    assert.equal(
      resumes[1].changed,
      { epochs: { saved: 2, given: 3 }, logEvery: { saved: 2, given: 3 } },
      'what changed, and only that',
    );
    assert.is(resumes[1].max_steps, null);
    assert.equal(
      record(dir)
        .filter((l) => l.type === 'step')
        .map((l) => l.step),
      [2, 4, 6, 9],
      'every 2 steps, then every 3',
    );
    b3.dispose();
  }),
);

t(
  'adam: a run stopped mid-epoch and resumed is bit-identical to an uninterrupted one; its moments and step count are saved',
  () =>
    inDirs(2, async (dirA, dirB) => {
      const adam = config({ optimizer: 'adam', lr: 0.002 });
      const a = new Trainer(adam, DATA);
      await a.run({ out: dirA, ...quiet });
      const wa = await weights(a);
      const b1 = new Trainer(adam, DATA);
      await b1.run({ out: dirB, maxSteps: 4, ...quiet });
      b1.dispose();
      const pair = join(dirB, 'checkpoints/step-000004');
      const saved = await loadTrainState(join(pair, 'train-state.safetensors'));
      assert.is(saved.state.config.optimizer, 'adam');
      assert.is(saved.state.counters['optimizer.step'], 4, "Adam's step count: the bias corrections' power");
      const names = Object.keys(saved.tensors);
      const params = a.model.namedParameters().map(([n]) => n);
      assert.equal(
        names.sort(),
        [...params.map((n) => `exp_avg.${n}`), ...params.map((n) => `exp_avg_sq.${n}`)].sort(),
        'both moments of every parameter, nothing else',
      );
      assert.is((await readCheckpointMetadata(join(pair, 'model.safetensors'))).optimizer, 'adam');
      const b2 = await Trainer.resume(dirB, async () => DATA);
      await b2.run({ out: dirB, ...quiet });
      const wb = await weights(b2);
      const bits = (w: Float32Array) => Array.from(new Uint32Array(w.buffer, w.byteOffset, w.length));
      wa.forEach((w, i) => assert.equal(bits(wb[i]), bits(w), `${params[i]} bit-identical after resume`));
      assert.equal(record(dirB), record(dirA));
      a.dispose();
      b2.dispose();
    }),
);

t('a saved configuration from before --optimizer existed reads as SGD, which it was', () => {
  const { optimizer, ...old } = config({ optimizer: 'adam' });
  assert.is(optimizer, 'adam');
  const state = (c: object): TrainState => ({
    step: 0,
    epoch: 0,
    position: { epoch: 0, batch: 0 },
    rng: {},
    config: c as TrainState['config'],
    counters: {},
  });
  assert.equal(savedRunConfig(state(old)), { ...old, optimizer: 'sgd' });
  assert.is(savedRunConfig(state({ ...old, optimizer: 'adam' })).optimizer, 'adam');
});

t('natural training learns the synthetic task', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advfree-l-'));
  try {
    // Enough steps for the BN running averages used in eval mode to forget their initial values: after k steps
    // a fraction 0.9^k of the initial running variance 1 remains, which swamps this task's small first-layer
    // variances (~0.03) for k = 30 but not for k = 60.
    const data = { train: synthetic(96, 4), test: DATA.test };
    const tr = new Trainer(config({ epochs: 5, batch: 8, augment: false, lr: 0.02, schedule: 'constant' }), data);
    const s = await tr.run({ out: dir, progress: false, log: () => {} });
    assert.ok(s.at(-1)!.trainLoss < s[0].trainLoss, `loss falls: ${s.map((e) => e.trainLoss.toFixed(3)).join(' ')}`);
    assert.ok(
      s.at(-1)!.testAccuracy >= 0.9,
      `test accuracy by epoch: ${s.map((e) => `${e.testAccuracy}@${e.trainLoss.toFixed(3)}/${e.trainAccuracy}`).join(' ')}`,
    );
    assert.equal(tr.totalPasses, { ...noPasses(), forward: 60, backwardWeights: 60, sgdSteps: 60 });
    tr.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
