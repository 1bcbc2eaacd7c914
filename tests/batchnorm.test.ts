import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  batchNorm,
  fill,
  keep,
  mul,
  rsqrt,
  rt,
  scale,
  sum,
  tidy,
  valueAndGrads,
  type Tensor,
} from '../engine/index.js';
import {
  assertClose,
  assertThrows,
  checkGradients,
  checkSecondOrder,
  gpu,
  KERNEL_VARIANTS,
  randn,
  randu,
  ready,
  withKernels,
  type GradCase,
} from './helpers.js';

const t = suite('batchnorm');
t.before(ready);

type F64 = Float64Array;

interface RefOpts {
  training: boolean;
  relu: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Float64 PyTorch BatchNorm over (N, H·W) per channel of x [n, c, hw]: batch mean and biased variance in
 * training mode (running statistics updated with the unbiased variance), the running statistics in eval mode.
 * Returns y and the new running statistics (unchanged copies in eval mode).
 */
function bnRef(x: F64, gamma: F64, beta: F64, rm: F64, rv: F64, n: number, c: number, hw: number, o: RefOpts) {
  const momentum = o.momentum ?? 0.1;
  const eps = o.eps ?? 1e-5;
  const m = n * hw;
  const y = new Float64Array(x.length);
  const newMean = Float64Array.from(rm);
  const newVar = Float64Array.from(rv);
  const at = (b: number, k: number, i: number) => (b * c + k) * hw + i;
  for (let k = 0; k < c; k++) {
    let mean = rm[k];
    let variance = rv[k];
    if (o.training) {
      mean = 0;
      for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) mean += x[at(b, k, i)];
      mean /= m;
      let ssd = 0;
      for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) ssd += (x[at(b, k, i)] - mean) ** 2;
      variance = ssd / m;
      newMean[k] = (1 - momentum) * rm[k] + momentum * mean;
      newVar[k] = (1 - momentum) * rv[k] + momentum * (ssd / (m - 1));
    }
    const inv = 1 / Math.sqrt(variance + eps);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < hw; i++) {
        const v = gamma[k] * (x[at(b, k, i)] - mean) * inv + beta[k];
        y[at(b, k, i)] = o.relu ? Math.max(v, 0) : v;
      }
  }
  return { y, runningMean: newMean, runningVar: newVar };
}

interface Shape4 {
  n: number;
  c: number;
  hw: number;
  /** The tensor shape: [n, c, h, w] or [n, c]. */
  shape: number[];
}

const shape = (...s: number[]): Shape4 => ({ n: s[0], c: s[1], hw: s.length === 4 ? s[2] * s[3] : 1, shape: s });

/** Gamma of both signs, away from 0. */
const randGamma = (c: number, seed: number): F64 => randu(c, seed, 0.5, 1.5).map((v, i) => (i % 3 === 1 ? -v : v));

/**
 * Per channel, the beta nearest 0 that keeps every pre-activation gamma·x̂ + beta at least `margin` from 0, so
 * the fused ReLU's kink stays out of reach of finite differences (and of fp32 rounding). x̂ uses the batch
 * statistics (training) or the given running ones (eval).
 */
function safeBeta(x: F64, gamma: F64, s: Shape4, stats?: { mean: F64; variance: F64 }, margin = 0.05): F64 {
  const zero = new Float64Array(s.c);
  const { y: xh } = bnRef(
    x,
    new Float64Array(s.c).fill(1),
    zero,
    stats?.mean ?? zero,
    stats?.variance ?? zero,
    s.n,
    s.c,
    s.hw,
    {
      training: !stats,
      relu: false,
    },
  );
  const beta = new Float64Array(s.c);
  for (let k = 0; k < s.c; k++) {
    // Pre-activation is 0 where beta = -gamma·x̂: pick the midpoint nearest 0 of a gap between those roots.
    const roots: number[] = [];
    for (let b = 0; b < s.n; b++) for (let i = 0; i < s.hw; i++) roots.push(-gamma[k] * xh[(b * s.c + k) * s.hw + i]);
    roots.sort((a, b) => a - b);
    let best = NaN;
    for (let j = 0; j + 1 < roots.length; j++) {
      const mid = (roots[j] + roots[j + 1]) / 2;
      if (roots[j + 1] - roots[j] > 2 * margin && !(Math.abs(mid) >= Math.abs(best))) best = mid;
    }
    // A channel whose roots leave no gap: put every pre-activation on one side.
    beta[k] = Number.isNaN(best) ? roots[roots.length - 1] + 1 : best;
  }
  return beta;
}

/** Runs `make` in a tidy scope, downloads the tensors it returns and frees them. */
async function readAll(make: () => Tensor[]): Promise<Float32Array[]> {
  const ts = tidy(make);
  const out: Float32Array[] = [];
  for (const x of ts) out.push(await x.data());
  for (const x of ts) x.dispose();
  return out;
}

const state = (rm: ArrayLike<number>, rv: ArrayLike<number>, c: number) => ({
  runningMean: gpu(rm, [c], 'running_mean'),
  runningVar: gpu(rv, [c], 'running_var'),
});

const SHAPES = [
  shape(1, 3, 5, 7), // batch 1, H·W > 1
  shape(6, 4, 1, 1), // 1x1 spatial
  shape(2, 17, 3, 3), // a channel count that divides nothing
  shape(3, 5, 4, 6),
  shape(10, 17), // [N, C]
  shape(70, 3), // M larger than the reduction workgroup, H·W = 1
];

t('training forward and running statistics after one and two calls', async () => {
  let seed = 1;
  for (const s of SHAPES) {
    for (const relu of [false, true]) {
      const opts = s.c === 17 ? { momentum: 0.3, eps: 1e-3 } : {};
      const size = s.n * s.c * s.hw;
      const gamma = randGamma(s.c, seed++);
      const beta = randn(s.c, seed++, 0.5);
      const rm0 = randn(s.c, seed++);
      const rv0 = randu(s.c, seed++, 0.5, 2);
      const x1 = randn(size, seed++, 2).map((v) => v + 0.5);
      const x2 = randn(size, seed++, 0.5).map((v) => v - 1);
      const what = `${s.shape.join('x')}${relu ? ' relu' : ''}`;
      const r1 = bnRef(x1, gamma, beta, rm0, rv0, s.n, s.c, s.hw, { training: true, relu, ...opts });
      const r2 = bnRef(x2, gamma, beta, r1.runningMean, r1.runningVar, s.n, s.c, s.hw, {
        training: true,
        relu,
        ...opts,
      });
      const [y1, mean1, var1, y2, mean2, var2] = await readAll(() => {
        const st = state(rm0, rv0, s.c);
        const g = gpu(gamma, [s.c], 'gamma');
        const b = gpu(beta, [s.c], 'beta');
        const y1 = batchNorm(gpu(x1, s.shape, 'x1'), g, b, st, { training: true, relu, ...opts });
        assert.equal(y1.shape, s.shape);
        // Copies: the second call updates the running statistics in place.
        const after1 = [scale(st.runningMean, 1), scale(st.runningVar, 1)];
        const y2 = batchNorm(gpu(x2, s.shape, 'x2'), g, b, st, { training: true, relu, ...opts });
        return [y1, ...after1, y2, st.runningMean, st.runningVar];
      });
      assertClose(y1, r1.y, `${what}: y after one call`);
      assertClose(mean1, r1.runningMean, `${what}: running mean after one call`);
      assertClose(var1, r1.runningVar, `${what}: running var after one call`);
      assertClose(y2, r2.y, `${what}: y after two calls`);
      assertClose(mean2, r2.runningMean, `${what}: running mean after two calls`);
      assertClose(var2, r2.runningVar, `${what}: running var after two calls`);
    }
  }
});

t('large M: the strided per-channel loop, and a variance that is stable at a large mean', async () => {
  const s = shape(8, 4, 32, 32);
  const size = s.n * s.c * s.hw;
  // Mean 100, std ~1: E[x²] - E[x]² in fp32 would lose most digits of the variance. The reference uses the
  // fp32-rounded inputs the GPU sees.
  const x = randn(size, 11).map((v, i) => Math.fround(100 + v * (1 + (i % 5) / 10)));
  const gamma = randGamma(s.c, 12);
  const beta = randn(s.c, 13, 0.3);
  const rm0 = new Float64Array(s.c);
  const rv0 = new Float64Array(s.c).fill(1);
  for (const relu of [false, true]) {
    const r = bnRef(x, gamma, beta, rm0, rv0, s.n, s.c, s.hw, { training: true, relu });
    const [y, mean, variance] = await readAll(() => {
      const st = state(rm0, rv0, s.c);
      const y = batchNorm(gpu(x, s.shape, 'x'), gpu(gamma, [s.c]), gpu(beta, [s.c]), st, { training: true, relu });
      return [y, st.runningMean, st.runningVar];
    });
    assertClose(y, r.y, `y${relu ? ' relu' : ''}`);
    assertClose(mean, r.runningMean, 'running mean');
    assertClose(variance, r.runningVar, 'running var');
  }
});

t('eval forward uses the running statistics and leaves them unchanged', async () => {
  let seed = 100;
  for (const s of SHAPES) {
    for (const relu of [false, true]) {
      const size = s.n * s.c * s.hw;
      const gamma = randGamma(s.c, seed++);
      const beta = randn(s.c, seed++, 0.5);
      const rm = Float32Array.from(randn(s.c, seed++));
      const rv = Float32Array.from(randu(s.c, seed++, 0.2, 3));
      const x = randn(size, seed++, 2);
      const r = bnRef(x, gamma, beta, Float64Array.from(rm), Float64Array.from(rv), s.n, s.c, s.hw, {
        training: false,
        relu,
      });
      const [y, mean, variance] = await readAll(() => {
        const st = state(rm, rv, s.c);
        const y = batchNorm(gpu(x, s.shape, 'x'), gpu(gamma, [s.c]), gpu(beta, [s.c]), st, { training: false, relu });
        return [y, st.runningMean, st.runningVar];
      });
      assertClose(y, r.y, `${s.shape.join('x')}${relu ? ' relu' : ''}: eval y`);
      assertClose(mean, rm, 'running mean unchanged', 0, 0);
      assertClose(variance, rv, 'running var unchanged', 0, 0);
    }
  }
});

const GRAD_SHAPES = [shape(2, 3, 4, 5), shape(1, 3, 3, 3), shape(5, 2, 1, 1), shape(6, 5)];

/**
 * Runs `check` (first or second order) on batch norm for each shape, in training and eval mode, with and
 * without the fused ReLU, with random inputs (beta keeps the ReLU's kink out of reach).
 */
async function eachGradCase(shapes: Shape4[], seed: number, check: (c: GradCase) => Promise<void>): Promise<void> {
  for (const s of shapes) {
    for (const training of [true, false]) {
      for (const relu of [false, true]) {
        const size = s.n * s.c * s.hw;
        const x = randn(size, seed++, 1.5);
        const gamma = randGamma(s.c, seed++);
        const rm = randn(s.c, seed++, 0.5);
        const rv = randu(s.c, seed++, 0.5, 2);
        const running = { mean: rm, variance: rv };
        const beta = relu ? safeBeta(x, gamma, s, training ? undefined : running) : randn(s.c, seed++, 0.5);
        try {
          await check({
            gpu: ([xt, g, b]) => batchNorm(xt, g, b, state(rm, rv, s.c), { training, relu }),
            cpu: ([xv, g, b]) => bnRef(xv, g, b, rm, rv, s.n, s.c, s.hw, { training, relu }).y,
            inputs: [
              { data: x, shape: s.shape, name: 'x' },
              { data: gamma, shape: [s.c], name: 'gamma' },
              { data: beta, shape: [s.c], name: 'beta' },
            ],
          });
        } catch (e) {
          throw new Error(
            `${s.shape.join('x')} ${training ? 'training' : 'eval'}${relu ? ' relu' : ''}: ${(e as Error).message}`,
          );
        }
      }
    }
  }
}

t('backward: x, gamma and beta against finite differences, training and eval, with and without ReLU', async () => {
  await eachGradCase(GRAD_SHAPES, 200, checkGradients);
});

t(
  'second order: x, gamma and beta through the differentiable backward, training and eval, with and without ReLU',
  async () => {
    await eachGradCase([shape(2, 3, 2, 3), shape(5, 2)], 400, checkSecondOrder);
  },
);

for (const variant of KERNEL_VARIANTS) {
  t(
    `the fused double backward (training): two kernels, Hessian-vector products against float64, and its composite (third-order) form agrees (${variant} kernels)`,
    () =>
      withKernels(variant, async () => {
        const s = shape(3, 4, 2, 3);
        const size = s.n * s.c * s.hw;
        const x = randn(size, 600, 1.5);
        const gamma = randGamma(s.c, 601);
        const beta = safeBeta(x, gamma, s);
        const zero = new Float64Array(s.c);
        const cpu = ([xv, gv, bv]: F64[]) =>
          bnRef(xv, gv, bv, zero, zero, s.n, s.c, s.hw, { training: true, relu: true }).y;
        const inputs = [
          { data: x, shape: s.shape, name: 'x' },
          { data: gamma, shape: [s.c], name: 'gamma' },
          { data: beta, shape: [s.c], name: 'beta' },
        ];
        const bn = ([xt, g, b]: Tensor[]) =>
          batchNorm(xt, g, b, state(zero, zero, s.c), { training: true, relu: true });
        // Only x: the recorded input gradient's own backward, with no composite dgamma or dbeta beside it.
        await checkSecondOrder({ gpu: bn, cpu, inputs, wrt: [0] });
        await checkSecondOrder({ gpu: bn, cpu, inputs, wrt: [0, 1] });

        // Hessian-vector products in x and gamma of <r, bn> along v, at the top level (the fused kernels) and inside
        // a third tape that tracks x (the composite form, which that tape could differentiate again).
        const [xt, gt, bt] = inputs.map((i) => keep(gpu(i.data, i.shape, i.name)));
        const r = keep(gpu(randn(size, 602), s.shape, 'r'));
        const v = keep(gpu(randn(size, 603), s.shape, 'v'));
        const hvp = (): Tensor[] =>
          valueAndGrads(() => {
            const dx = valueAndGrads(() => bn([xt, gt, bt]), [xt], { seed: r, createGraph: true }).grads[0];
            return sum(mul(dx, v));
          }, [xt, gt]).grads;
        rt().resetCounters();
        const fused = await readAll(hvp);
        const k = rt().counters().byKernel;
        assert.equal(
          ['grad_sums', 'grad_input', 'double_sums', 'double_input'].map((e) => k[`batchnorm_${e}`]),
          [1, 1, 1, 1],
          JSON.stringify(k),
        );
        assert.is(
          rt().counters().byFamily.reduction ?? 0,
          2,
          'no composite reductions: only the sum of <dx, v> and its broadcast backward',
        );
        rt().resetCounters();
        const again = await readAll(() => {
          let out: Tensor[] = [];
          valueAndGrads(() => {
            out = hvp().map((t) => keep(t));
            return sum(mul(out[0], v));
          }, [xt]);
          return out;
        });
        assert.is(
          rt().counters().byKernel.batchnorm_double_sums,
          1,
          "only the third tape's own backward runs the fused kernels",
        );
        assertClose(again[0], fused[0], 'd/dx through the composite double backward', 1e-4, 1e-5);
        assertClose(again[1], fused[1], 'd/dgamma through the composite double backward', 1e-4, 1e-5);
        for (const t of [xt, gt, bt, r, v]) t.dispose();
      }),
  );
  t(
    `the fused double backward without the ReLU, on whole quads (HW % 4 = 0, as every WRN plane) and more than one workgroup of elements: Hessian-vector products against float64 (${variant} kernels)`,
    () =>
      withKernels(variant, async () => {
        const s = shape(22, 3, 4, 4); // 1056 elements: two workgroups of the elementwise double_input pass
        const x = randn(s.n * s.c * s.hw, 610, 1.5);
        const zero = new Float64Array(s.c);
        rt().resetCounters();
        await checkSecondOrder({
          gpu: ([xt, g, b]) => batchNorm(xt, g, b, state(zero, zero, s.c), { training: true }),
          cpu: ([xv, g, b]) => bnRef(xv, g, b, zero, zero, s.n, s.c, s.hw, { training: true, relu: false }).y,
          inputs: [
            { data: x, shape: s.shape, name: 'x' },
            { data: randGamma(s.c, 611), shape: [s.c], name: 'gamma' },
            { data: randn(s.c, 612, 0.5), shape: [s.c], name: 'beta' },
          ],
          wrt: [0, 1],
        });
        assert.is(rt().counters().byKernel.batchnorm_double_input, 1, 'the fused kernels ran');
      }),
  );
}

t('rsqrt (the statistics kernel as 1/sqrt(x + eps)) and its first and second derivatives', async () => {
  const m = 70; // more than one workgroup of channels
  const x = randu(m, 500, 0.2, 3);
  const inputs = [
    { data: x, shape: [7, 10], name: 'x' },
    { data: randn(m, 501), shape: [7, 10], name: 'y' },
  ];
  const cpu = ([xv, y]: F64[]) => xv.map((v, i) => y[i] / Math.sqrt(v + 1e-3));
  await checkGradients({ gpu: ([xt, y]) => mul(rsqrt(xt, 1e-3), y), cpu, inputs });
  await checkSecondOrder({ gpu: ([xt, y]) => mul(rsqrt(xt, 1e-3), y), cpu, inputs });
});

t('backward dispatches only what the requested gradients need, and frees its temporaries', async () => {
  const s = shape(2, 3, 4, 4);
  const x = gpu(randn(s.n * s.c * s.hw, 300), s.shape, 'x');
  const g = gpu(randGamma(s.c, 301), [s.c], 'gamma');
  const b = gpu(randn(s.c, 302), [s.c], 'beta');
  const st = state(new Float64Array(s.c), new Float64Array(s.c).fill(1), s.c);
  const seed = fill(s.shape, 1, 'seed');
  const run = (training: boolean, wrt: Tensor[]) => {
    const before = rt().pool.stats().bytesInUse;
    rt().resetCounters();
    const { value, grads } = valueAndGrads(() => batchNorm(x, g, b, st, { training, relu: true }), wrt, { seed });
    for (const t of [value, ...grads]) t.dispose();
    rt().flush(); // releases reach the pool's free lists only after a submit
    assert.is(rt().pool.stats().bytesInUse, before, 'no tensor outlives valueAndGrads');
    const k = rt().counters().byKernel;
    return ['stats', 'normalize', 'grad_sums', 'grad_input', 'grad_input_eval'].map((e) => k[`batchnorm_${e}`] ?? 0);
  };
  assert.equal(run(true, [x]), [1, 1, 1, 1, 0], 'training, dx only: the sums are still needed');
  assert.equal(run(true, [g]), [1, 1, 1, 0, 0], 'training, dgamma only: no dx kernel');
  assert.equal(run(true, [g, b]), [1, 1, 1, 0, 0], 'training, dgamma and dbeta');
  assert.equal(run(true, [x, g, b]), [1, 1, 1, 1, 0], 'training, everything');
  assert.equal(run(false, [x]), [1, 1, 0, 0, 1], 'eval, dx only: no reduction');
  assert.equal(run(false, [b]), [1, 1, 1, 0, 0], 'eval, dbeta only');
  assert.equal(run(false, [x, g, b]), [1, 1, 1, 0, 1], 'eval, everything');
  assert.is(rt().counters().byFamily.batchnorm, 4, 'the last run: stats, normalize, grad_sums, grad_input_eval');
  for (const t of [x, g, b, st.runningMean, st.runningVar, seed]) t.dispose();
});

t('eval backward uses the statistics of its forward, even if a later call updates them', async () => {
  const s = shape(3, 4, 2, 3);
  const size = s.n * s.c * s.hw;
  const x = randn(size, 400);
  const gamma = randGamma(s.c, 401);
  const beta = randn(s.c, 402);
  const rm = randn(s.c, 403);
  const rv = randu(s.c, 404, 0.5, 2);
  const dyv = randn(size, 405);
  const [dx] = await readAll(() => {
    const xt = gpu(x, s.shape, 'x');
    const st = state(rm, rv, s.c);
    const f = () => {
      const y = batchNorm(xt, gpu(gamma, [s.c]), gpu(beta, [s.c]), st, { training: false });
      batchNorm(gpu(randn(size, 406), s.shape), gpu(gamma, [s.c]), gpu(beta, [s.c]), st, { training: true });
      return y;
    };
    return valueAndGrads(f, [xt], { seed: gpu(dyv, s.shape, 'dy') }).grads;
  });
  const scaled = (v: F64) =>
    v.map((d, i) => (d * gamma[Math.floor(i / s.hw) % s.c]) / Math.sqrt(rv[Math.floor(i / s.hw) % s.c] + 1e-5));
  assertClose(dx, scaled(dyv), 'dx');
  // The differentiable backward (create-graph) too: dx = γ·invstd·dy, so d<v, dx>/d(dy) = γ·invstd·v.
  const v = randn(size, 407);
  const [dxGraph, ddy] = await readAll(() => {
    const xt = gpu(x, s.shape, 'x');
    const st = state(rm, rv, s.c);
    const dy = gpu(dyv, s.shape, 'dy');
    let inner: Tensor | null = null;
    const { grads } = valueAndGrads(() => {
      const f = () => {
        const y = batchNorm(xt, gpu(gamma, [s.c]), gpu(beta, [s.c]), st, { training: false });
        batchNorm(gpu(randn(size, 406), s.shape), gpu(gamma, [s.c]), gpu(beta, [s.c]), st, { training: true });
        return y;
      };
      inner = keep(valueAndGrads(f, [xt], { seed: dy, createGraph: true }).grads[0]);
      return sum(mul(inner, gpu(v, s.shape, 'v')));
    }, [dy]);
    return [inner!, grads[0]];
  });
  assertClose(dxGraph, scaled(dyv), 'dx (create-graph)');
  assertClose(ddy, scaled(v), 'd<v, dx>/d(dy)');
});

t('argument errors name the shapes', () => {
  tidy(() => {
    const x = gpu(new Float64Array(2 * 3 * 4 * 4), [2, 3, 4, 4], 'x');
    const g3 = fill([3], 1, 'gamma');
    const b3 = fill([3], 0, 'beta');
    const st = () => state(new Float64Array(3), new Float64Array(3).fill(1), 3);
    const train = { training: true };
    assertThrows(
      () => batchNorm(x, fill([4], 1, 'gamma'), b3, st(), train),
      /batchNorm/,
      /'x' \[2,3,4,4\]/,
      /3 channels/,
      /gamma 'gamma' \[4\]/,
    );
    assertThrows(
      () => batchNorm(x, g3, fill([3, 1], 0, 'beta'), st(), train),
      /'x' \[2,3,4,4\]/,
      /beta 'beta' \[3,1\]/,
    );
    assertThrows(
      () => batchNorm(x, g3, b3, { runningMean: fill([5], 0, 'rm'), runningVar: fill([3], 1, 'rv') }, train),
      /'x' \[2,3,4,4\]/,
      /running mean 'rm' \[5\]/,
    );
    assertThrows(
      () =>
        batchNorm(x, g3, b3, { runningMean: fill([3], 0, 'rm'), runningVar: fill([2], 1, 'rv') }, { training: false }),
      /running variance 'rv' \[2\]/,
    );
    assertThrows(
      () => batchNorm(fill([2, 3, 16], 1, 'x3'), g3, b3, st(), train),
      /batchNorm/,
      /'x3' \[2,3,16\]/,
      /rank 4/,
    );
    assertThrows(
      () => batchNorm(fill([1, 3, 1, 1], 1, 'x1'), g3, b3, st(), train),
      /more than one value per channel/,
      /\[1,3,1,1\]/,
    );
    const shared = fill([3], 1, 'stat');
    assertThrows(() => batchNorm(x, g3, b3, { runningMean: shared, runningVar: shared }, train), /same tensor/);
    assertThrows(() => batchNorm(x, g3, b3, st(), { training: true, momentum: 1.5 }), /momentum 1.5/);
    // Eval mode with a single value per channel is fine, as in PyTorch.
    batchNorm(fill([1, 3, 1, 1], 1, 'x1'), g3, b3, st(), { training: false });
  });
});

t.run();
