// The Adam step (engine/ops/optimizer.ts's adamStep and nn/optim.ts's Adam) against torch.optim.Adam in float64
// (reference/f64-adam.ts) and against values known by hand: with bias correction the first step is exactly
// lr·g/(|g| + eps) per element, and so is every step of a constant gradient.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { adamStep, rt, tidy, zeros, type AdamStepOptions } from '../engine/index.js';
import type { Param, ParamRole } from '../nn/module.js';
import { Adam, createOptimizer, decayOf } from '../nn/optim.js';
import { adam64, adamStep64, type Adam64Options } from '../reference/f64-adam.js';
import { assertClose, assertThrows, gpu, randn, ready } from './helpers.js';

const t = suite('adam');
t.before(ready);

const f32 = (a: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(a));

// fp32 against float64 over 6 steps: each step moves a parameter by at most about lr (0.05 here) with a relative
// error of a few 1e-7 (moments, sqrt, division), and rounding the parameter (|p| < 5) costs ~3e-7 a step; the
// moments carry a few ulps of |g| ≤ 2.5. RTOL 1e-5 / ATOL 1e-6 bound that with a margin while a missing weight
// decay, bias correction or eps (asserted below to exceed them) does not fit.
const RTOL = 1e-5;
const ATOL = 1e-6;

/** Several GPU steps and the float64 reference on the same fp32 inputs. */
async function run(o: Adam64Options, seed: number, steps = 6) {
  const shape = [17, 61]; // 1037 elements: not a multiple of the workgroup size
  const n = 17 * 61;
  const p0 = f32(randn(n, seed));
  const grads = Array.from({ length: steps }, (_, s) => f32(randn(n, seed + 1 + s, 0.5)));
  const [param, m, v] = [gpu(p0, shape, 'w'), zeros(shape, 'w_exp_avg'), zeros(shape, 'w_exp_avg_sq')];
  for (const [s, g] of grads.entries()) {
    const grad = gpu(g, shape, 'dw');
    adamStep(param, grad, m, v, { ...o, step: s + 1 });
    grad.dispose();
  }
  const ref = adam64(p0);
  for (const g of grads) adamStep64(ref, g, o);
  const got = { param: await param.data(), expAvg: await m.data(), expAvgSq: await v.data() };
  for (const x of [param, m, v]) x.dispose();
  return { got, ref, p0, grads };
}

/** Whether `a` lies within the tolerance of `b` everywhere. */
const within = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  Array.from(b).every((e, i) => Math.abs(a[i] - e) <= ATOL + RTOL * Math.abs(e));

t('six steps match float64 torch.optim.Adam: defaults, weight decay on, other betas and eps', async () => {
  const configs: Adam64Options[] = [
    { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
    { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 },
    { lr: 0.05, betas: [0.8, 0.99], eps: 1e-3, weightDecay: 5e-4 },
  ];
  for (const [ci, o] of configs.entries()) {
    const { got, ref, p0, grads } = await run(o, 100 * (ci + 1));
    const what = JSON.stringify(o);
    assertClose(got.param, ref.param, `param ${what}`, RTOL, ATOL);
    assertClose(got.expAvg, ref.expAvg, `exp_avg ${what}`, RTOL, ATOL);
    assertClose(got.expAvgSq, ref.expAvgSq, `exp_avg_sq ${what}`, RTOL, ATOL);
    // The tolerance tells the settings apart: the reference without the weight decay, eps or bias correction
    // given is out of it.
    const without = (change: Partial<Adam64Options>, noBias = false) => {
      const r = adam64(p0);
      for (const g of grads) {
        if (noBias) r.step = 1e9; // β^t = 0 at such a step count: no bias correction
        adamStep64(r, g, { ...o, ...change });
      }
      return r.param;
    };
    if (o.weightDecay)
      assert.not.ok(within(got.param, without({ weightDecay: 0 })), `${what}: the weight decay is visible`);
    if (o.eps > 1e-8) assert.not.ok(within(got.param, without({ eps: 1e-8 })), `${what}: eps is visible`);
    assert.not.ok(within(got.param, without({}, true)), `${what}: the bias correction is visible`);
  }
});

t('known values: the first step, and every step of a constant gradient, is lr·g/(|g| + eps)', async () => {
  // 1e-9 is below eps (the step is lr/11), -3e-7 near it; 0 leaves the parameter exactly where it was.
  const g = [0.5, -2, 1e-3, -3e-7, 1e-9, 0, 4];
  const lr = 0.01;
  const eps = 1e-8;
  const n = g.length;
  const [param, grad, m, v] = [
    gpu(new Array(n).fill(1), [n], 'w'),
    gpu(g, [n], 'dw'),
    zeros([n], 'm'),
    zeros([n], 'v'),
  ];
  const stepOf = (x: number) => (lr * x) / (Math.abs(x) + eps);
  for (let s = 1; s <= 3; s++) {
    adamStep(param, grad, m, v, { lr, step: s, eps });
    // fp32: the parameter near 1 is held to a few ulps (6e-8 each); the moments to a few ulps of themselves.
    assertClose(
      await param.data(),
      g.map((x) => 1 - s * stepOf(Math.fround(x))),
      `param after step ${s}`,
      0,
      3e-7,
    );
    if (s === 1) {
      assertClose(
        await m.data(),
        g.map((x) => 0.1 * x),
        'exp_avg after step 1: (1 − β1)·g',
        1e-6,
        0,
      );
      assertClose(
        await v.data(),
        g.map((x) => 0.001 * x * x),
        'exp_avg_sq after step 1: (1 − β2)·g²',
        1e-6,
        0,
      );
    }
  }
  assert.is((await param.data())[5], 1, 'a zero gradient moves nothing');
  assertClose([(await param.data())[4]], [1 - (3 * lr) / 11], 'g = eps/10 moves lr/11 a step', 0, 3e-7);
  for (const x of [param, grad, m, v]) x.dispose();
});

t('one optimizer dispatch per tensor and step; new step counts and learning rates reuse the pipeline', async () => {
  const [param, grad, m, v] = [
    gpu([1, 2, 3], [3], 'w'),
    gpu([0.5, -1, 2], [3], 'dw'),
    zeros([3], 'm'),
    zeros([3], 'v'),
  ];
  adamStep(param, grad, m, v, { lr: 0.1, step: 1 });
  const pipelines = rt().pipelineCount;
  rt().resetCounters();
  for (let s = 2; s <= 5; s++) adamStep(param, grad, m, v, { lr: 0.1 / s, step: s, weightDecay: s % 2 ? 0 : 0.01 });
  const c = rt().counters();
  assert.is(c.total, 4);
  assert.is(c.byFamily.optimizer, 4);
  assert.is(rt().pipelineCount, pipelines, 'no new pipeline for new per-step scalars');
  await param.data();
  for (const x of [param, grad, m, v]) x.dispose();
});

t('errors name the tensors and the bad option', () => {
  tidy(() => {
    const [w, g, m, v] = ['w', 'g', 'm', 'v'].map((name) => zeros([3, 4], name));
    const ok: AdamStepOptions = { lr: 0.1, step: 1 };
    assertThrows(
      () => adamStep(w, g, m, zeros([4, 3], 'vt'), ok),
      /adamStep/,
      /'w' \[3,4\]/,
      /'g' \[3,4\]/,
      /'m' \[3,4\]/,
      /'vt' \[4,3\]/,
    );
    assertThrows(() => adamStep(w, g, m, m, ok), /adamStep/, /distinct/);
    assertThrows(() => adamStep(w, g, m, v, { ...ok, step: 0 }), /step must be an integer >= 1/, /got 0/);
    assertThrows(() => adamStep(w, g, m, v, { ...ok, step: 1.5 }), /step/, /1\.5/);
    assertThrows(() => adamStep(w, g, m, v, { ...ok, betas: [0.9, 1] }), /betas must be in \[0, 1\)/, /0\.9, 1/);
    assertThrows(() => adamStep(w, g, m, v, { ...ok, eps: -1 }), /eps/, /-1/);
    assertThrows(() => adamStep(w, g, m, v, { ...ok, lr: NaN }), /lr/, /NaN/);
  });
});

t(
  "the Adam optimizer: PyTorch's defaults, weight decay by role (--decay-on weights), its step count as its state",
  async () => {
    const specs: [string, ParamRole, number][] = [
      ['conv.weight', 'conv', 40],
      ['bn.weight', 'bn', 7],
      ['fc.bias', 'bias', 5],
    ];
    const params: [string, Param][] = specs.map(([name, role, n], i) => [
      name,
      { role, tensor: gpu(f32(randn(n, 10 + i)), [n], name) },
    ]);
    const decay = { weightDecay: 0.1, decay: 'weights' as const };
    const opt = createOptimizer('adam', params, { momentum: 0.9, nesterov: false, ...decay });
    assert.ok(opt instanceof Adam);
    assert.equal(Object.keys(opt.state), [
      'exp_avg.conv.weight',
      'exp_avg.bn.weight',
      'exp_avg.fc.bias',
      'exp_avg_sq.conv.weight',
      'exp_avg_sq.bn.weight',
      'exp_avg_sq.fc.bias',
    ]);
    const refs = await Promise.all(params.map(async ([, p]) => adam64(await p.tensor.data())));
    const lrs = [0.01, 0.02, 0.005];
    for (const [s, lr] of lrs.entries()) {
      const grads = specs.map(([, , n], i) => f32(randn(n, 50 + 10 * s + i)));
      const gt = grads.map((g, i) => gpu(g, [g.length], `grad.${i}`));
      opt.step(gt, lr);
      for (const x of gt) x.dispose();
      refs.forEach((r, i) =>
        adamStep64(r, grads[i], { lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay: decayOf(specs[i][1], decay) }),
      );
    }
    for (const [i, [name, p]] of params.entries()) assertClose(await p.tensor.data(), refs[i].param, name, RTOL, ATOL);
    assert.equal(opt.counters(), { step: 3 });
    opt.setCounters({ step: 7 });
    assert.equal(opt.counters(), { step: 7 });
    assertThrows(() => opt.setCounters({}), /step count/, /undefined/);
    opt.dispose();
    for (const [, p] of params) p.tensor.dispose();
  },
);

t.run();
