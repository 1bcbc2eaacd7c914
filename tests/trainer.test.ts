// The training loop on a tiny synthetic CIFAR-shaped dataset: it learns, it writes metrics and checkpoints, and
// a run stopped mid-epoch and resumed from its folder ends exactly where an uninterrupted run ends.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SplitData } from '../nn/data/cifar.js';
import { noPasses } from '../adversarial/method.js';
import { Trainer, type Datasets, type RunConfig } from '../train/trainer.js';
import { ready, rng } from './helpers.js';

const t = suite('trainer');
t.before(ready);

/** Two classes told apart by the mean brightness of the red plane. */
function synthetic(count: number, seed: number): SplitData {
  const r = rng(seed);
  const images = new Uint8Array(count * 3072);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let j = 0; j < 3072; j++) images[i * 3072 + j] = Math.floor(r() * 128) + (j < 1024 && labels[i] ? 127 : 0);
  }
  return { images, labels, count, classes: 10 };
}

const DATA: Datasets = { train: synthetic(48, 1), test: synthetic(32, 2) };

const config = (over: Partial<RunConfig> = {}): RunConfig => ({
  data: 'synthetic', model: 'wrn-10-1', classes: 10, epochs: 2, batch: 16, lr: 0.05, schedule: 'multistep',
  momentum: 0.9, nesterov: true, weightDecay: 5e-4, decay: 'weights', seed: 3, augment: true, trainLimit: null,
  testLimit: null, method: { name: 'natural' }, normalization: 'none', checkpointMinutes: 60, logEvery: 2, ...over,
});

async function weights(tr: Trainer): Promise<Float32Array[]> {
  return Promise.all(tr.model.namedParameters().map(([, p]) => p.tensor.data()));
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

t('a run stopped mid-epoch and resumed ends where an uninterrupted run ends', async () => {
  const dirA = mkdtempSync(join(tmpdir(), 'advfree-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'advfree-b-'));
  try {
    const a = new Trainer(config(), DATA);
    const sa = await a.run({ out: dirA, progress: false, log: () => {} });
    assert.is(sa.length, 2);
    const wa = await weights(a);

    const b1 = new Trainer(config(), DATA);
    const partial = await b1.run({ out: dirB, maxSteps: 4, progress: false, log: () => {} });
    assert.is(partial.length, 1, 'the first epoch (3 batches) completed before step 4');
    b1.dispose();
    const b2 = await Trainer.resume(dirB, async () => DATA);
    assert.is(b2.stepsDone, 4);
    const sb = await b2.run({ out: dirB, progress: false, log: () => {} });
    const wb = await weights(b2);
    wa.forEach((w, i) => assert.equal(Array.from(wb[i]), Array.from(w), `parameter ${i} identical after resume`));
    assert.is(sb.at(-1)!.trainLoss, sa.at(-1)!.trainLoss, 'last epoch train loss');
    assert.is(sb.at(-1)!.testAccuracy, sa.at(-1)!.testAccuracy, 'last epoch test accuracy');
    assert.equal(b2.totalPasses, a.totalPasses, 'pass counters carried over');
    const epochs = lines(join(dirA, 'metrics.jsonl')).filter((l) => l.type === 'epoch');
    assert.is(epochs.length, 2);
    assert.is(epochs[1].train_loss, sa[1].trainLoss);
    a.dispose();
    b2.dispose();
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
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
    assert.ok(s.at(-1)!.testAccuracy >= 0.9, `test accuracy by epoch: ${s.map((e) => `${e.testAccuracy}@${e.trainLoss.toFixed(3)}/${e.trainAccuracy}`).join(" ")}`);
    assert.equal(tr.totalPasses, { ...noPasses(), forward: 60, backwardWeights: 60, sgdSteps: 60 });
    tr.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
