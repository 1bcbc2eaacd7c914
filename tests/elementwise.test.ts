import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  add,
  affine,
  assignPrefix,
  axpby,
  clamp,
  memory,
  mul,
  relu,
  reshape,
  sign,
  signStep,
  sub,
  fill,
  randomUniform,
  randomNormal,
  tidy,
  rt,
  type Tensor,
} from '../engine/index.js';
import { assertClose, checkGradients, checkSecondOrder, gpu, randn, randu, ready } from './helpers.js';

const t = suite('elementwise');
t.before(ready);

type GradOp = (ts: Tensor[]) => Tensor;

const n = 1000 + 37; // not a multiple of the workgroup size
const xs = randn(n, 1);
const ys = randn(n, 2);

t('unary ops match float64', async () => {
  const x = gpu(xs, [n]);
  assertClose(
    await relu(x).data(),
    xs.map((v) => Math.max(v, 0)),
    'relu',
  );
  assertClose(
    await sign(x).data(),
    xs.map((v) => Math.sign(v)),
    'sign',
  );
  assertClose(
    await clamp(x, -0.5, 0.25).data(),
    xs.map((v) => Math.min(Math.max(v, -0.5), 0.25)),
    'clamp',
  );
  assertClose(
    await affine(x, 3, -1).data(),
    xs.map((v) => 3 * v - 1),
    'affine',
  );
});

t('binary ops match float64', async () => {
  const x = gpu(xs, [n]);
  const y = gpu(ys, [n]);
  assertClose(
    await add(x, y).data(),
    xs.map((v, i) => v + ys[i]),
    'add',
  );
  assertClose(
    await sub(x, y).data(),
    xs.map((v, i) => v - ys[i]),
    'sub',
  );
  assertClose(
    await mul(x, y).data(),
    xs.map((v, i) => v * ys[i]),
    'mul',
  );
  const e = 0.3;
  assertClose(
    await signStep(x, y, 0.1, e).data(),
    xs.map((v, i) => Math.min(Math.max(v + 0.1 * Math.sign(ys[i]), -e), e)),
    'signStep',
  );
});

t('fill and counter-based random numbers', async () => {
  const big = 70000 * 256 + 3; // more workgroups than one grid dimension holds
  const f = await fill([big], 2.5).data();
  assert.is(f[0], 2.5);
  assert.is(f[big - 1], 2.5);
  const u = await randomUniform([4096], -1, 3, 42).data();
  const mean = u.reduce((a, b) => a + b, 0) / u.length;
  assert.ok(
    u.every((v) => v >= -1 && v < 3),
    'uniform range',
  );
  assert.ok(Math.abs(mean - 1) < 0.1, `uniform mean ${mean}`);
  const z = await randomNormal([8192], 0, 2, 7).data();
  const m = z.reduce((a, b) => a + b, 0) / z.length;
  const v = z.reduce((a, b) => a + (b - m) ** 2, 0) / z.length;
  assert.ok(Math.abs(m) < 0.1 && Math.abs(Math.sqrt(v) - 2) < 0.1, `normal mean ${m} std ${Math.sqrt(v)}`);
  // Same seed, same values, whatever the shape: element i depends only on (seed, stream, i).
  const again = await randomNormal([2, 4096], 0, 2, 7).data();
  assertClose(again, z, 'normal reproducible', 0, 0);
  const other = await randomNormal([8192], 0, 2, 7, 1).data();
  assert.ok(other[0] !== z[0] && other[1] !== z[1], 'streams differ');
});

t('tidy frees everything but the result', async () => {
  const before = rt().pool.stats().bytesInUse;
  const kept = tidy(() => {
    const a = fill([1000], 1);
    const b = fill([1000], 2);
    return add(a, b);
  });
  assert.is(rt().pool.stats().bytesInUse - before, 4096);
  assertClose(await kept.data(), new Float64Array(1000).fill(3), 'kept');
  kept.dispose();
  assert.is(rt().pool.stats().bytesInUse, before);
});

t(
  'reshape is a view: no dispatch, shared storage, each disposed on its own, the buffer freed with the last',
  async () => {
    const x = gpu(xs.slice(0, 12), [3, 4], 'x');
    rt().resetCounters();
    const v = reshape(x, [2, 6]);
    assert.is(rt().counters().total, 0, 'no kernel runs');
    assert.equal(v.shape, [2, 6]);
    assert.is(v.buffer, x.buffer);
    assertClose(await v.data(), xs.slice(0, 12), 'the same values');
    const before = memory().bytesInUse;
    x.dispose();
    assert.is(memory().bytesInUse, before, 'the view still holds the buffer');
    assertClose(await v.data(), xs.slice(0, 12), 'readable after its source is disposed');
    v.dispose();
    assert.is(memory().bytesInUse, before - 256, 'freed with the last holder (one 256-byte size class)');
    assert.throws(() => v.buffer, /used after dispose/);
    assert.throws(() => reshape(gpu(xs.slice(0, 6), [6]), [-2, -3]), /reshape.*positive integers/);
  },
);

t('assignPrefix writes exactly the first elements, also through a partial last quad', async () => {
  const dst = gpu(xs.slice(0, 11), [11], 'dst');
  assignPrefix(dst, gpu(ys.slice(0, 6), [6], 'src'));
  assertClose(await dst.data(), Float32Array.from([...ys.slice(0, 6), ...xs.slice(6, 11)]), 'dst', 0, 0);
});

t('backward of the differentiable elementwise ops', async () => {
  const m = 53;
  const a = randn(m, 3);
  const b = randn(m, 4);
  // Keep inputs away from the kinks of relu and clamp, where finite differences are meaningless.
  const away = (v: number, k: number) => (Math.abs(v - k) < 0.05 ? k + 0.1 : v);
  const ar = a.map((v) => away(v, 0));
  const ac = a.map((v) => away(away(v, -0.5), 0.5));
  const two = [
    { data: a, shape: [m] },
    { data: b, shape: [m] },
  ];
  await checkGradients({ gpu: ([x, y]) => add(x, y), cpu: ([x, y]) => x.map((v, i) => v + y[i]), inputs: two });
  await checkGradients({ gpu: ([x, y]) => sub(x, y), cpu: ([x, y]) => x.map((v, i) => v - y[i]), inputs: two });
  await checkGradients({ gpu: ([x, y]) => mul(x, y), cpu: ([x, y]) => x.map((v, i) => v * y[i]), inputs: two });
  await checkGradients({ gpu: ([x]) => affine(x, -2, 1), cpu: ([x]) => x.map((v) => -2 * v + 1), inputs: [two[0]] });
  await checkGradients({
    gpu: ([x]) => relu(x),
    cpu: ([x]) => x.map((v) => Math.max(v, 0)),
    inputs: [{ data: ar, shape: [m] }],
  });
  await checkGradients({
    gpu: ([x]) => clamp(x, -0.5, 0.5),
    cpu: ([x]) => x.map((v) => Math.min(Math.max(v, -0.5), 0.5)),
    inputs: [{ data: ac, shape: [m] }],
  });
  // A shared subgraph: x feeds both operands, so its gradient accumulates (d/dx (x*x + x) = 2x + 1).
  await checkGradients({
    gpu: ([x]) => add(mul(x, x), x),
    cpu: ([x]) => x.map((v) => v * v + v),
    inputs: [{ data: randu(m, 5, -1, 1), shape: [m] }],
  });
});

t(
  'second order: Hessian-vector products and JVPs of the elementwise ops (each in a product, so curvature flows through its backward)',
  async () => {
    const m = 53;
    const away = (v: number, k: number) => (Math.abs(v - k) < 0.05 ? k + 0.1 : v);
    const a = randn(m, 13);
    const two = (x: Float64Array) => [
      { data: x, shape: [m], name: 'x' },
      { data: randn(m, 14), shape: [m], name: 'y' },
    ];
    const cases: { what: string; gpu: GradOp; cpu: (x: number, y: number) => number; x?: Float64Array }[] = [
      { what: 'mul', gpu: ([x, y]) => mul(x, y), cpu: (x, y) => x * y },
      { what: 'shared subgraph x·x + x', gpu: ([x]) => add(mul(x, x), x), cpu: (x) => x * x + x },
      {
        what: 'relu',
        gpu: ([x, y]) => mul(relu(x), y),
        cpu: (x, y) => Math.max(x, 0) * y,
        x: a.map((v) => away(v, 0)),
      },
      {
        what: 'clamp',
        gpu: ([x, y]) => mul(clamp(x, -0.5, 0.5), y),
        cpu: (x, y) => Math.min(Math.max(x, -0.5), 0.5) * y,
        x: a.map((v) => away(away(v, -0.5), 0.5)),
      },
      {
        what: 'axpby, affine, sub',
        gpu: ([x, y]) => mul(affine(axpby(0.7, x, -1.3, y), -2, 1), sub(x, y)),
        cpu: (x, y) => (-2 * (0.7 * x - 1.3 * y) + 1) * (x - y),
      },
      { what: 'reshape', gpu: ([x, y]) => mul(reshape(x, [1, m]), reshape(y, [1, m])), cpu: (x, y) => x * y },
    ];
    for (const c of cases) {
      const inputs = two(c.x ?? a);
      try {
        await checkSecondOrder({ gpu: c.gpu, cpu: ([x, y]) => x.map((v, i) => c.cpu(v, y[i])), inputs });
      } catch (e) {
        throw new Error(`${c.what}: ${(e as Error).message}`);
      }
    }
  },
);

t.run();
