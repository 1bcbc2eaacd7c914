// Every registered training method under a threat model with fixed elements and a box narrower than the data,
// in every norm it supports: each input its model sees keeps the fixed elements bit for bit, and stays in the box
// and the ball except where the method's reference code deliberately leaves them (listed below, with why); a
// method refuses a norm it does not support, before any work.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor, type Tensor } from '../engine/index.js';
import { createMethod, describeRecorded, methodNorms, METHODS, resolveMethod } from '../adversarial/registry.js';
import { NORMS, ThreatModel } from '../adversarial/threat.js';
import { Harness } from '../train/harness.js';
import { savedRunConfig } from '../train/run-config.js';
import type { TrainState } from '../train/train-state.js';
import { assertThrows, randu, ready, tinyTrainSetup } from './helpers.js';

const t = suite('threat-methods');
t.before(ready);

const [B, C, H, W] = [4, 3, 8, 8];
const D = C * H * W;

/** Small options, as tests/methods.test.ts runs them. */
const SMALL: Record<string, Record<string, number>> = {
  free: { replays: 2 },
  pgd: { steps: 2 },
  yopo: { m: 2, n: 2 },
  atta: { steps: 2 },
  trades: { steps: 2 },
  gradalign: { lambda: 0.2 },
  gradnorm: { lambda: 1 },
};

// Starting points the authors' code does not clip: TRADES' x + 0.001·N(0,1), GradAlign's x + U(-eps, eps) for its
// second gradient, YOPO's x + eta of each full pass. They leave the box, never the ball or the mask.
const UNBOXED = new Set(['trades', 'gradalign', 'yopo']);
// N-FGSM's noise of 2·eps and its unprojected step leave the eps ball by design (the box and the mask hold).
const UNBALLED = new Set(['nfgsm']);

const DOMAIN = {
  lower: Float32Array.from({ length: D }, (_, j) => (j % 5 === 1 ? 0 : 0.1)),
  upper: Float32Array.from({ length: D }, (_, j) => (j % 7 === 2 ? 1 : 0.9)),
  mutable: Uint8Array.from({ length: D }, (_, j) => (j % 3 === 0 ? 0 : 1)),
};

for (const d of METHODS) {
  for (const norm of methodNorms(d)) {
    t(`${d.name}, ${norm}: fixed elements never change; box and ball hold`, async () => {
      const threat = new ThreatModel({ norm, eps: norm === 'linf' ? 8 / 255 : 0.5 }, DOMAIN);
      const r = resolveMethod({ name: d.name, ...(SMALL[d.name] ?? {}) }, threat.spec);
      const { model, opt } = tinyTrainSetup(3);
      // Every input the network sees goes through its first layer (forward and YOPO's split alike).
      const seen: Promise<Float32Array>[] = [];
      const first = model.first.bind(model);
      model.first = (v: Tensor) => (seen.push(v.data()), first(v));
      const h = new Harness(model, opt, 3, () => 0.01);
      const method = createMethod(r, { batchShape: [B, C, H, W], threat, seed: 3, trainSize: B, classes: 10 });
      const xs = Float32Array.from(randu(B * D, 5));
      const x = tensor(xs, [B, C, H, W], { name: 'x' });
      const y = tensor(Int32Array.from([1, 2, 3, 4]), [B], { name: 'y' });
      for (let s = 0; s < 2; s++) {
        const res = h.run(method, x, y);
        await res.loss.item();
        res.loss.dispose();
        res.correct.dispose();
        await method.hostState?.();
      }
      const inputs = await Promise.all(seen);
      assert.ok(inputs.length >= 2, `${d.name}: the model saw its inputs`);
      let moved = 0;
      for (const [k, p] of inputs.entries()) {
        for (let i = 0; i < p.length; i++) {
          const j = i % D;
          if (!DOMAIN.mutable[j])
            assert.ok(Object.is(p[i], xs[i]), `input ${k}: fixed element ${i} is ${p[i]}, not ${xs[i]}`);
          else if (!UNBOXED.has(d.name))
            assert.ok(
              p[i] >= Math.min(DOMAIN.lower[j], xs[i]) && p[i] <= Math.max(DOMAIN.upper[j], xs[i]),
              `input ${k}: element ${i} = ${p[i]} outside the box`,
            );
          if (p[i] !== xs[i]) moved++;
        }
        for (let e = 0; e < B && !UNBALLED.has(d.name); e++) {
          const dist = threat.distance(p, xs, e * D);
          assert.ok(
            dist <= threat.eps * (1 + 1e-5) + 1e-6,
            `input ${k}: example ${e} at ${norm} distance ${dist} > eps ${threat.eps}`,
          );
        }
      }
      const perturbs = d.name !== 'natural' && d.name !== 'gradnorm';
      assert.is(moved > 0, perturbs, `${d.name}: ${moved} elements moved`);
      for (const v of [x, y]) v.dispose();
      method.dispose?.();
      threat.dispose();
      opt.dispose();
      model.dispose();
    });
  }
}

t('a method refuses a norm it does not support, naming the ones it does', () => {
  const linfOnly = METHODS.filter((d) => !methodNorms(d).includes('l2')).map((d) => d.name);
  assert.ok(linfOnly.includes('atta') && linfOnly.includes('trades'), `L-inf-only methods: ${linfOnly}`);
  for (const name of ['free', 'pgd', 'fgsm-rs'])
    assert.equal(methodNorms(METHODS.find((d) => d.name === name)!), NORMS, `${name} takes both norms`);
  assertThrows(
    () => resolveMethod({ name: 'atta' }, { norm: 'l2', eps: 0.5 }),
    /method atta supports --norm linf only, got --norm l2/,
  );
  const l2 = new ThreatModel({ norm: 'l2', eps: 0.5 }, DOMAIN);
  assertThrows(
    () =>
      createMethod(resolveMethod({ name: 'trades' }), {
        batchShape: [B, C, H, W],
        threat: l2,
        seed: 0,
        trainSize: B,
        classes: 10,
      }),
    /method trades supports --norm linf only, got the l2 threat model/,
  );
});

t("runs and checkpoints recorded before the threat model was the run's read as L-inf at their method's eps", () => {
  const saved = (config: Record<string, unknown>) => savedRunConfig({ config } as unknown as TrainState);
  const c = saved({ data: 'cifar10', method: { name: 'free', replays: 4, eps: 4 / 255 } });
  assert.equal(
    [c.method, c.threat, c.optimizer],
    [{ name: 'free', replays: 4 }, { norm: 'linf', eps: 4 / 255 }, 'sgd'],
  );
  assert.equal(
    saved({ data: 'mnist', method: { name: 'natural' } }).threat,
    { norm: 'linf', eps: 0.3 },
    "no eps recorded: the dataset's",
  );
  assert.equal(saved({ data: 'cifar10', method: { name: 'pgd' }, threat: { norm: 'l2', eps: 0.5 } }).threat, {
    norm: 'l2',
    eps: 0.5,
  });
  assert.is(
    describeRecorded(JSON.stringify({ name: 'free', replays: 8, eps: 8 / 255 })),
    'free (replays 8) at eps 8/255',
  );
  assert.is(
    describeRecorded(JSON.stringify({ name: 'free', replays: 8 }), JSON.stringify({ norm: 'l2', eps: 0.5 })),
    'free (replays 8) at L2 eps 0.5',
  );
  assert.match(
    describeRecorded(JSON.stringify({ name: 'free' }), '{"norm": "l3"}'),
    /unreadable method metadata .*a threat model is/,
  );
});

t.run();
