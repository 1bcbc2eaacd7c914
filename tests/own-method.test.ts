// The docs' "write your own method" example, built and trained: registered from outside the package, it trains
// through the Trainer, its declared cost equals the passes measured, and docs/methods.md shows this very file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { declaredCost, registerMethod, resolveMethod, Trainer, type Datasets, type RunConfig } from '../index.js';
import fgsmZero from './fixtures/own-method.js';
import { ready } from './helpers.js';
import { synthetic } from './synthetic-run.js';

const t = suite('own-method');
t.before(ready);

t('the example method registers, trains, and counts what it declares', async () => {
  registerMethod(fgsmZero);
  const data: Datasets = { train: synthetic(32, 1), test: synthetic(16, 2) };
  const config: RunConfig = {
    data: 'synthetic',
    model: 'wrn-10-1',
    classes: 10,
    epochs: 1,
    batch: 16,
    lr: 0.05,
    schedule: 'constant',
    optimizer: 'sgd',
    momentum: 0.9,
    nesterov: false,
    weightDecay: 5e-4,
    decay: 'all',
    seed: 1,
    augment: true,
    trainLimit: null,
    testLimit: null,
    method: { name: 'fgsm-zero' },
    threat: { norm: 'linf', eps: 8 / 255 },
    normalization: 'none',
    checkpointMinutes: 60,
    logEvery: 1,
  };
  const dir = mkdtempSync(join(tmpdir(), 'advfree-own-'));
  try {
    const tr = new Trainer(config, data);
    const fc = () =>
      tr.model
        .namedParameters()
        .find(([n]) => n === 'fc.weight')![1]
        .tensor.data();
    const before = await fc();
    const [epoch] = await tr.run({ out: dir, progress: false, log: () => {} });
    assert.ok(Number.isFinite(epoch.trainLoss), `train loss ${epoch.trainLoss}`);
    const after = await fc();
    assert.ok(
      after.some((v, i) => v !== before[i]),
      'the SGD steps moved the weights',
    );
    const per = declaredCost(resolveMethod({ name: 'fgsm-zero' }));
    assert.equal(
      tr.totalPasses,
      Object.fromEntries(Object.entries(per).map(([k, v]) => [k, 2 * v])),
      'two minibatches, as declared',
    );
    assert.equal(
      [tr.config.method, tr.config.threat],
      [{ name: 'fgsm-zero' }, { norm: 'linf', eps: 8 / 255 }],
      'the run records the typed options and its threat model',
    );
    tr.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t("docs/methods.md's example is this file", () => {
  const file = readFileSync('tests/fixtures/own-method.ts', 'utf8');
  assert.ok(
    readFileSync('docs/methods.md', 'utf8').includes(file.trim()),
    'docs/methods.md shows tests/fixtures/own-method.ts verbatim',
  );
});

t.run();
