// Every registered method on an image dataset other than CIFAR (28x28 grey-scale, mnist-net) and on tabular data
// (float features with a box and immutable features, an MLP): it trains through the Trainer with its declared
// passes measured exactly, a run stopped after its first step and resumed ends bit-identical to an uninterrupted
// one, and the model evaluates under an attack of the same threat model.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveAttack } from '../adversarial/attack-registry.js';
import { evaluateRobust, inEvalMode, splitSource } from '../adversarial/evaluate.js';
import { noPasses, PASS_KINDS } from '../adversarial/method.js';
import { declaredCost, METHODS, methodNorms, resolveMethod } from '../adversarial/registry.js';
import type { ThreatSpec } from '../adversarial/threat.js';
import { unitBox, type SplitData } from '../data/dataset.js';
import { Trainer } from '../train/trainer.js';
import type { Datasets, RunConfig } from '../train/run-config.js';
import { randu, ready } from './helpers.js';
import { weights } from './synthetic-run.js';

const t = suite('domains');
t.before(ready);

/** Small options, as tests/methods.test.ts runs them (second-order methods with their penalty on). */
const SMALL: Record<string, Record<string, number>> = {
  free: { replays: 2 },
  pgd: { steps: 2 },
  yopo: { m: 2, n: 2 },
  atta: { steps: 2 },
  trades: { steps: 2 },
  gradalign: { lambda: 0.2 },
  gradnorm: { lambda: 1 },
};

function split(count: number, shape: number[], seed: number, bytes: boolean): SplitData {
  const per = shape.reduce((a, d) => a * d, 1);
  const u = randu(count * per, seed);
  const x = bytes ? Uint8Array.from(u, (v) => Math.floor(256 * v)) : Float32Array.from(u);
  return { x, y: Int32Array.from({ length: count }, (_, i) => i % 3), count, classes: 3, shape };
}

interface Domain {
  name: string;
  data: string;
  model: string;
  threat: ThreatSpec;
  sets: Datasets;
}

const FEATURES = 12;
const DOMAINS: Domain[] = [
  {
    name: 'MNIST-shaped images',
    data: 'mnist',
    model: 'mnist-net',
    threat: { norm: 'linf', eps: 0.3 },
    sets: { train: split(12, [1, 28, 28], 1, true), test: split(6, [1, 28, 28], 2, true), box: unitBox([1, 28, 28]) },
  },
  {
    name: 'tabular features',
    data: 'credit-g',
    model: 'mlp-16x2',
    threat: { norm: 'linf', eps: 0.1 },
    sets: {
      train: split(12, [FEATURES], 3, false),
      test: split(6, [FEATURES], 4, false),
      // A box narrower than [0, 1] and every third feature immutable, as a tabular dataset declares them.
      box: {
        lower: new Float32Array(FEATURES),
        upper: new Float32Array(FEATURES).fill(1),
        mutable: Uint8Array.from({ length: FEATURES }, (_, j) => (j % 3 ? 1 : 0)),
      },
    },
  },
];

const config = (d: Domain, method: RunConfig['method'], threat: ThreatSpec): RunConfig => ({
  data: d.data,
  model: d.model,
  classes: 3,
  epochs: 1,
  batch: 4,
  lr: 0.01,
  schedule: 'constant',
  optimizer: 'sgd',
  momentum: 0.9,
  nesterov: false,
  weightDecay: 5e-4,
  decay: 'all',
  seed: 5,
  augment: false,
  trainLimit: null,
  testLimit: null,
  method,
  threat,
  normalization: 'none',
  checkpointMinutes: 60,
  logEvery: 1,
});

const quiet = { progress: false, log: () => {} };

for (const d of DOMAINS) {
  for (const m of METHODS) {
    for (const norm of methodNorms(m)) {
      t(`${m.name} (${norm}) on ${d.name}: declared passes measured, bit-exact resume, evaluation`, async () => {
        const threat: ThreatSpec = norm === d.threat.norm ? d.threat : { norm, eps: 0.5 };
        const r = resolveMethod({ name: m.name, ...(SMALL[m.name] ?? {}) }, threat);
        const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'advfree-domains-')));
        try {
          const a = new Trainer(config(d, r.config, threat), d.sets);
          await a.run({ out: dirs[0], ...quiet });
          // 12 examples in batches of 4: three minibatches, each costing what the method declares.
          const per = declaredCost(r);
          assert.equal(
            a.totalPasses,
            Object.fromEntries(PASS_KINDS.map((k) => [k, 3 * per[k]])) as unknown as ReturnType<typeof noPasses>,
            'passes',
          );
          const b1 = new Trainer(config(d, r.config, threat), d.sets);
          await b1.run({ out: dirs[1], maxSteps: 1, ...quiet });
          await b1.method.hostState?.();
          b1.dispose();
          const b2 = await Trainer.resume(dirs[1], async () => d.sets);
          await b2.run({ out: dirs[1], ...quiet });
          const [wa, wb] = [await weights(a), await weights(b2)];
          wa.forEach((w, i) =>
            assert.ok(
              Buffer.from(w.buffer).equals(Buffer.from(wb[i].buffer)),
              `parameter ${i} bit-identical after the resume`,
            ),
          );
          const attack = resolveAttack({ name: 'pgd', steps: 2, restarts: 1 }, threat);
          const ev = await inEvalMode(a.model, (classify) =>
            evaluateRobust(classify, splitSource(d.sets.test), [attack], {
              threat: a.threat,
              classes: 3,
              batch: 6,
              seed: 0,
            }),
          );
          assert.is(ev.examples, 6);
          assert.ok(ev.robustCorrect <= ev.cleanCorrect, `robust ${ev.robustCorrect} <= clean ${ev.cleanCorrect}`);
          a.dispose();
          b2.dispose();
        } finally {
          for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }
}

t.run();
