// Reuse probes (`advfree train --probe reuse`): they leave every weight, optimizer state (SGD's momenta, Adam's
// moments and step count), batch-norm statistic and the method's state bit-exactly as they were; free-m's gradient
// cosine and K-PGD's successive-step cosine equal host re-computations (gradients taken with the engine directly,
// the SGD or Adam step, the PGD steps and the cosines in float64 on the host); their passes go to their own meter, and a run with probes trains exactly as one without.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  add,
  clamp,
  keep,
  randomUniform,
  softmaxCrossEntropy,
  tensor,
  tidy,
  valueAndGrads,
  type Tensor,
} from '../engine/index.js';
import { noPasses, type Method } from '../adversarial/method.js';
import { createMethod, declaredCost, METHODS, resolveMethod, type ResolvedMethod } from '../adversarial/registry.js';
import { meanRowCosine, PROBE_STREAM } from '../adversarial/probes.js';
import { freezeBatchNorm, BatchNorm2d } from '../nn/layers.js';
import { createOptimizer, type Optimizer, type OptimizerName } from '../nn/optim.js';
import { adamStep64 } from '../reference/f64-adam.js';
import { crossEntropy } from '../reference/f64-ops.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { Harness } from '../train/harness.js';
import { ProbeRunner } from '../train/probes.js';
import { Trainer } from '../train/trainer.js';
import { RUN_FILES } from '../train/run-folder.js';
import { imageThreat, randu, ready } from './helpers.js';
import { config, DATA, lines, weights } from './synthetic-run.js';

const t = suite('probes');
t.before(ready);

const [B, C, H, W] = [4, 3, 8, 8];
const SGD = { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' as const };
/** The learning rate of each optimizer: Adam moves every weight by about lr a step. */
const LR: Record<OptimizerName, number> = { sgd: 0.05, adam: 1e-3 };
const SEED = 3;
const SMALL: Record<string, Record<string, number>> = {
  free: { replays: 2 },
  pgd: { steps: 2 },
  yopo: { m: 2, n: 2 },
  atta: { steps: 2 },
};

interface Setup {
  net: WideResNet;
  opt: Optimizer;
  method: Method;
  resolved: ResolvedMethod;
  runner: ProbeRunner;
  x: Tensor;
  y: Tensor;
}

/** A WRN-10-1 trained two minibatches by the method (non-zero optimizer state, statistics and carried state), and a probe runner. */
async function setup(name: string, optimizer: OptimizerName = 'sgd'): Promise<Setup> {
  const resolved = resolveMethod({ name, ...(SMALL[name] ?? {}) });
  const net = new WideResNet(parseArch('wrn-10-1', 10), 1);
  const opt = createOptimizer(optimizer, net.namedParameters(), SGD);
  const threat = imageThreat([C, H, W]);
  const method = createMethod(resolved, { batchShape: [B, C, H, W], threat, seed: SEED, trainSize: B, classes: 10 });
  const h = new Harness(net, opt, SEED, () => LR[optimizer]);
  const x = tensor(Float32Array.from(randu(B * C * H * W, 5)), [B, C, H, W], { name: 'x' });
  const y = tensor(Int32Array.from([1, 2, 3, 4]), [B], { name: 'y' });
  for (let s = 0; s < 2; s++) {
    const r = h.run(method, x, y);
    await r.loss.item();
    r.loss.dispose();
    r.correct.dispose();
    // ATTA's store takes the step's perturbation when its readback lands: before the same examples come again.
    await method.hostState?.();
  }
  return {
    net,
    opt,
    method,
    resolved,
    x,
    y,
    runner: new ProbeRunner(net, opt, resolved, method, threat, () => LR[optimizer]),
  };
}

function dispose(s: Setup): void {
  for (const v of [s.x, s.y]) v.dispose();
  s.method.dispose?.();
  s.opt.dispose();
  s.net.dispose();
}

/** Every number the run carries: weights, batch-norm buffers (the batch counters too), optimizer state, method state; as raw bits. */
async function snapshot(s: Setup): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const bits = async (name: string, v: Tensor) => (out[name] = Array.from(new Uint32Array((await v.data()).buffer)));
  for (const [k, p] of s.net.namedParameters()) await bits(k, p.tensor);
  for (const [k, b] of s.net.namedBuffers()) {
    if ('tensor' in b) await bits(k, b.tensor);
    else out[k] = [Number(b.int64())];
  }
  for (const [k, v] of Object.entries(s.opt.state)) await bits(k, v);
  for (const [k, c] of Object.entries(s.opt.counters())) out[`optimizer.${k}`] = [c];
  for (const [k, v] of Object.entries(s.method.state?.() ?? {})) await bits(`method.${k}`, v);
  for (const [k, v] of Object.entries((await s.method.hostState?.()) ?? {})) out[`host.${k}`] = Array.from(v);
  return out;
}

const probed = METHODS.filter((d) => d.probes);

t(
  'every method with probes (free with Adam too): they change no weight, optimizer state, BN statistic or method state (bit-exact)',
  async () => {
    assert.ok(
      ['free', 'pgd', 'fgsm-rs', 'yopo', 'atta'].every((n) => probed.some((d) => d.name === n)),
      'free, pgd, fgsm-rs, yopo and atta declare probes',
    );
    const cases: [(typeof probed)[number], OptimizerName][] = [
      ...probed.map((d): [(typeof probed)[number], OptimizerName] => [d, 'sgd']),
      [probed.find((d) => d.name === 'free')!, 'adam'],
    ];
    for (const [d, optimizer] of cases) {
      const s = await setup(d.name, optimizer);
      const before = await snapshot(s);
      if (optimizer === 'adam')
        assert.equal(
          before['optimizer.step'],
          [4],
          "free-2 with Adam, 2 minibatches: Adam's step count (4) is compared too",
        );
      if (d.name === 'free')
        assert.ok(
          before['method.delta'].some((b) => b !== 0),
          'free: the carried delta is not zero',
        );
      if (d.name === 'atta')
        assert.ok(
          Object.keys(before).some((k) => k.startsWith('host.')),
          'atta: its host store is compared too',
        );
      const values = await s.runner.run({ x: s.x, y: s.y }, 2, SEED);
      checkRanges(d.name, values);
      assert.equal(await snapshot(s), before, `${d.name}: state after the probe`);
      if (d.name === 'free') {
        // The weights are back where they were: the host recomputes the eval-mode points the probe measured.
        await assertLossAccuracy(s, values, 'clean', s.x);
        const xd = keep(tidy(() => clamp(add(s.x, s.method.state!().delta), 0, 1)));
        await assertLossAccuracy(s, values, 'delta', xd);
        xd.dispose();
      }
      assert.ok(s.net.training, `${d.name}: the model is back in training mode`);
      assert.ok(
        s.net.modules().every((m) => !(m instanceof BatchNorm2d) || !m.frozen),
        `${d.name}: running statistics unfrozen again`,
      );
      dispose(s);
    }
  },
);

/** Every value in its range: cosines in [-1, 1], losses at least 0, accuracies whole examples out of B. */
function checkRanges(name: string, values: Record<string, number>): void {
  assert.ok(Object.keys(values).length > 0, `${name}: some values`);
  for (const [k, v] of Object.entries(values)) {
    const ok = k.startsWith('grad_cos')
      ? v >= -1 - 1e-6 && v <= 1 + 1e-6
      : k.endsWith('_loss')
        ? v >= 0
        : k.endsWith('_accuracy')
          ? Number.isInteger(v * B) && v >= 0 && v <= 1
          : false;
    assert.ok(ok, `${name}: ${k} = ${v} (an unknown kind of value, or out of its range)`);
  }
}

/**
 * `values[point_loss]` and `values[point_accuracy]` equal the mean cross-entropy (float64, on the host) and the
 * accuracy of the model's eval-mode logits at `at`.
 */
async function assertLossAccuracy(s: Setup, values: Record<string, number>, point: string, at: Tensor): Promise<void> {
  s.net.eval();
  const logits = tidy(() => keep(s.net.forward(at)));
  s.net.train();
  const z = Float64Array.from(await logits.data());
  logits.dispose();
  const labels = await s.y.ints();
  const k = z.length / B;
  const loss = crossEntropy(z, labels, B, k).reduce((a, b) => a + b, 0) / B;
  const argmax = (i: number) =>
    z.subarray(i * k, (i + 1) * k).reduce((best, v, j, row) => (v > row[best] ? j : best), 0);
  const accuracy = Array.from(labels).filter((l, i) => argmax(i) === l).length / B;
  assert.ok(
    Math.abs(values[`${point}_loss`] - loss) < 1e-5 * Math.max(1, loss),
    `${point}_loss ${values[`${point}_loss`]} vs host ${loss}`,
  );
  assert.is(values[`${point}_accuracy`], accuracy, `${point}_accuracy`);
}

/** Host float64 copies of a tensor list. */
const host = (ts: readonly Tensor[]) => Promise.all(ts.map(async (v) => Float64Array.from(await v.data())));

for (const optimizer of ['sgd', 'adam'] as const)
  t(
    `free: grad_cos_after_update equals the cosine of two engine gradients around a host ${optimizer} step`,
    async () => {
      const s = await setup('free', optimizer);
      const lr = LR[optimizer];
      const { step } = s.opt.counters();
      const values = await s.runner.run({ x: s.x, y: s.y }, 2, SEED);
      // Reference: the same model state, batch statistics with frozen running ones (the probe's mode).
      const named = s.net.namedParameters();
      const params = named.map(([, p]) => p.tensor);
      const stateOf = (prefix: string) => host(named.map(([n]) => s.opt.state[`${prefix}.${n}`]));
      const w0 = await host(params);
      const [m0, v0] =
        optimizer === 'sgd' ? [await stateOf('momentum'), []] : [await stateOf('exp_avg'), await stateOf('exp_avg_sq')];
      freezeBatchNorm(s.net, true);
      const xd = keep(tidy(() => clamp(add(s.x, s.method.state!().delta), 0, 1)));
      const grads = tidy(() =>
        valueAndGrads(() => softmaxCrossEntropy(s.net.forward(xd), s.y), [xd, ...params]).grads.map(keep),
      );
      const [g0, ...gw] = await host(grads);
      // torch.optim.SGD with momentum 0.9, no Nesterov, or torch.optim.Adam with its defaults (reference/f64-adam.ts,
      // from the saved moments and step count); weight decay on every parameter; in float64.
      const net2 = new WideResNet(parseArch('wrn-10-1', 10), 1);
      const params2 = net2.namedParameters().map(([, p]) => p.tensor);
      params2.forEach((p, i) => {
        let w = w0[i].map((v, k) => v - lr * (SGD.momentum * m0[i][k] + gw[i][k] + SGD.weightDecay * v));
        if (optimizer === 'adam') {
          const st = { param: w0[i], expAvg: m0[i], expAvgSq: v0[i], step };
          adamStep64(st, gw[i], { lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay: SGD.weightDecay });
          w = st.param;
        }
        p.write(Float32Array.from(w));
      });
      for (const [k, b] of net2.namedBuffers()) {
        const own = s.net.namedBuffers().find(([n]) => n === k)![1];
        if ('tensor' in b && 'tensor' in own) b.tensor.write(await own.tensor.data());
      }
      freezeBatchNorm(net2, true);
      const g1 = tidy(() => keep(valueAndGrads(() => softmaxCrossEntropy(net2.forward(xd), s.y), [xd]).grads[0]));
      const [g1h] = await host([g1]);
      const want = meanRowCosineF64(g0, g1h, B);
      assert.ok(want > 0 && want < 0.99999, `a stale but related gradient: cosine ${want}`);
      // fp32 weights from the GPU's fused step vs the float64 host step: differences of ~1e-7 relative.
      assert.ok(
        Math.abs(values.grad_cos_after_update - want) < 1e-4,
        `probe ${values.grad_cos_after_update} vs host ${want}`,
      );
      for (const v of [xd, g1, ...grads]) v.dispose();
      freezeBatchNorm(s.net, false);
      net2.dispose();
      dispose(s);
    },
  );

/** The per-example cosine, written out again in float64 (the probe's meanRowCosine takes fp32 input). */
function meanRowCosineF64(a: Float64Array, b: Float64Array, rows: number): number {
  const n = a.length / rows;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let ab = 0,
      aa = 0,
      bb = 0;
    for (let k = r * n; k < (r + 1) * n; k++) [ab, aa, bb] = [ab + a[k] * b[k], aa + a[k] * a[k], bb + b[k] * b[k]];
    sum += ab / Math.sqrt(aa * bb);
  }
  return sum / rows;
}

t(
  'yopo: at the point its adjoint came from the Hamiltonian direction is the full gradient (cosine 1), then drifts',
  async () => {
    const s = await setup('yopo');
    const v = await s.runner.run({ x: s.x, y: s.y }, 2, SEED);
    assert.ok(Math.abs(v.grad_cos_hamiltonian_first - 1) < 1e-4, `step 0: ${v.grad_cos_hamiltonian_first}`);
    assert.ok(
      v.grad_cos_hamiltonian_last < v.grad_cos_hamiltonian_first,
      `step 1 drifts: ${v.grad_cos_hamiltonian_last}`,
    );
    dispose(s);
  },
);

t('meanRowCosine: known values', () => {
  const a = Float32Array.from([1, 0, 0, 0, 3, 4]);
  const b = Float32Array.from([2, 0, 5, 1, -3, -4]);
  assert.is(meanRowCosine(a, b, 3), 0, 'rows (1,0)·(2,0): 1; a zero row: 0; (3,4)·(-3,-4): -1');
  assert.ok(
    Math.abs(meanRowCosine(Float32Array.from([1, 1]), Float32Array.from([1, 0]), 1) - Math.SQRT1_2) < 1e-15,
    '45 degrees',
  );
});

t('pgd: grad_cos_successive equals the cosines of host PGD steps between engine gradients', async () => {
  const s = await setup('pgd');
  const o = { ...(s.resolved.options as { stepSize: number; steps: number }), eps: 8 / 255 };
  const step = 2;
  const values = await s.runner.run({ x: s.x, y: s.y }, step, SEED);
  freezeBatchNorm(s.net, true);
  const x0 = await host([s.x]).then((v) => v[0]);
  // The threat model's L-inf random start, as attacks have always drawn it: x + U(-eps, eps), clamped to [0, 1].
  const start = tidy(() =>
    keep(clamp(add(s.x, randomUniform(s.x.shape, -o.eps, o.eps, SEED, PROBE_STREAM + step)), 0, 1)),
  );
  let xk = await host([start]).then((v) => v[0]);
  start.dispose();
  const gradAt = async (p: Float64Array) => {
    const xt = tensor(Float32Array.from(p), [B, C, H, W], { name: 'xk' });
    const g = tidy(() => keep(valueAndGrads(() => softmaxCrossEntropy(s.net.forward(xt), s.y), [xt]).grads[0]));
    const out = Float64Array.from(await g.data());
    g.dispose();
    xt.dispose();
    return out;
  };
  const cos: number[] = [];
  let g = await gradAt(xk);
  for (let k = 0; k < o.steps; k++) {
    xk = xk.map((v, i) =>
      Math.min(1, Math.max(0, x0[i] + Math.min(o.eps, Math.max(-o.eps, v + o.stepSize * Math.sign(g[i]) - x0[i])))),
    );
    const next = await gradAt(xk);
    cos.push(meanRowCosineF64(g, next, B));
    g = next;
  }
  const mean = cos.reduce((a, b) => a + b) / cos.length;
  assert.ok(Math.abs(values.grad_cos_successive - mean) < 1e-4, `mean ${values.grad_cos_successive} vs host ${mean}`);
  assert.ok(
    Math.abs(values.grad_cos_successive_first - cos[0]) < 1e-4,
    `first ${values.grad_cos_successive_first} vs ${cos[0]}`,
  );
  assert.ok(
    Math.abs(values.grad_cos_successive_last - cos[1]) < 1e-4,
    `last ${values.grad_cos_successive_last} vs ${cos[1]}`,
  );
  freezeBatchNorm(s.net, false);
  const attacked = tensor(Float32Array.from(xk), [B, C, H, W], { name: 'attacked' });
  await assertLossAccuracy(s, values, 'attack', attacked);
  attacked.dispose();
  dispose(s);
});

t(
  'trainer --probe: probe passes on their own meter, metrics lines, and the run trains exactly as without probes',
  async () => {
    const cfg = config({ epochs: 1, method: { name: 'free', replays: 2 } });
    const dirs = [mkdtempSync(join(tmpdir(), 'advfree-probe-a-')), mkdtempSync(join(tmpdir(), 'advfree-probe-b-'))];
    try {
      const plain = new Trainer(cfg, DATA);
      await plain.run({ out: dirs[0], progress: false, log: () => {} });
      const probed = new Trainer(cfg, DATA);
      await probed.run({ out: dirs[1], progress: false, log: () => {}, probe: { every: 1 } });
      const per = declaredCost(resolveMethod(cfg.method));
      const thrice = Object.fromEntries(Object.entries(per).map(([k, v]) => [k, 3 * v]));
      assert.equal(
        probed.totalPasses,
        thrice,
        "the method's passes: 3 minibatches of free-2, no probe pass among them",
      );
      assert.equal(plain.totalPasses, thrice);
      // Each free probe: 1 forward+backward with weight gradients and 1 input-only at theta_t+1, 3 forwards (clean,
      // delta, fresh PGD's end) and PGD-7's 7 input-only steps.
      assert.equal(probed.probes!.meter.passes, {
        ...noPasses(),
        forward: 3 * 12,
        backwardWeights: 3,
        backwardInputOnly: 3 * 8,
      });
      const [pw, qw] = [await weights(plain), await weights(probed)];
      pw.forEach((w, i) =>
        assert.equal(Array.from(qw[i]), Array.from(w), `parameter ${i} identical with and without probes`),
      );
      const probes = lines(join(dirs[1], RUN_FILES.metrics)).filter((l) => l.type === 'probe') as Record<string, any>[];
      assert.equal(
        probes.map((l) => [l.step, l.epoch, l.iteration, l.epoch_progress]),
        [
          [1, 1, 2, 1 / 3],
          [2, 1, 4, 2 / 3],
          [3, 1, 6, 1],
        ],
      );
      assert.ok(
        probes.every((l) => l.grad_cos_after_update > -1 && l.grad_cos_after_update <= 1),
        'cosines in [-1, 1]',
      );
      assert.is(probes[2].probe_passes.forward, 36, 'probe lines carry the cumulative probe passes');
      for (const tr of [plain, probed]) tr.dispose();
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  },
);

t.run();
