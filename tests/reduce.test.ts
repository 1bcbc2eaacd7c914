import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mean, mul, rt, sum, sumRows, tensor, tidy } from '../engine/index.js';
import { assertClose, assertThrows, checkGradients, checkSecondOrder, gpu, randn, randu, ready } from './helpers.js';

const t = suite('reduce');
t.before(ready);

/** The values an f32 upload holds, in float64, so only the GPU's accumulation error is measured. */
const f32 = (a: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(a));

/** Float64 column sums of x [rows, cols], and the column sums of |x| (the scale of the rounding error). */
function columnSums(x: Float64Array, rows: number): { sums: Float64Array; abs: Float64Array } {
  const cols = x.length / rows;
  const sums = new Float64Array(cols);
  const abs = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      sums[c] += x[r * cols + c];
      abs[c] += Math.abs(x[r * cols + c]);
    }
  }
  return { sums, abs };
}

// Tolerance: an fp32 sum's rounding error is at most (additions on the longest path)·u·Σ|x|, u = 2^-24 ≈ 6e-8.
// The longest path for 3e6 elements is 64 serial adds per invocation + 8 tree levels in pass 1, then 1 + 8
// in pass 2: ~81 adds, a worst case of 5e-6·Σ|x| (errors of random sign make the typical error far smaller).
// We allow 1e-5·Σ|x| (measured: 4e-8 for uniform(0,1), 5e-7 for the constant). The constant 0.1 is the case
// that checks the tree: every serial addition rounds the same way, so a plain serial fp32 loop over 3e6 of
// them is 3% off (on uniform(0,1) data its errors partly cancel and it would stay within 1e-5).
const TOL = 1e-5;

function checkSum(actual: ArrayLike<number>, x: Float64Array, rows: number, what: string, scale = 1): void {
  const { sums, abs } = columnSums(x, rows);
  for (let c = 0; c < sums.length; c++) {
    assertClose([actual[c]], [scale * sums[c]], `${what}, column ${c}`, 0, TOL * scale * abs[c] + 1e-30);
  }
}

t('sum and mean match float64 for n = 1, 1000, 3e6 and sizes around the 16384-element chunk', async () => {
  for (const n of [1, 2, 255, 257, 1000, 16383, 16384, 16385, 65537, 3_000_000]) {
    for (const [label, data] of [
      ['uniform(0,1)', randu(n, n, 0, 1)],
      ['normal', randn(n, n + 1)],
      ['constant 0.1', new Float64Array(n).fill(0.1)],
    ] as const) {
      const xs = f32(data);
      const x = gpu(xs, [n], 'x');
      const s = sum(x);
      const m = mean(x);
      assert.equal(s.shape, [1]);
      assert.equal(m.shape, [1]);
      checkSum(await s.data(), xs, n, `sum n=${n} ${label}`);
      checkSum(await m.data(), xs, n, `mean n=${n} ${label}`, 1 / n);
      for (const y of [x, s, m]) y.dispose();
    }
  }
});

t('a full reduction of 3e6 takes two passes and frees its partials', async () => {
  const n = 3_000_000;
  const x = gpu(randu(n, 3, -1, 1), [n], 'x');
  const before = rt().pool.stats().bytesInUse;
  rt().resetCounters();
  const s = sum(x);
  assert.is(rt().counters().byFamily.reduction, 2);
  await s.data();
  s.dispose();
  assert.is(rt().pool.stats().bytesInUse, before);
  x.dispose();
});

t('sumRows matches float64 over the leading axis (1 to 3 passes, narrow and wide rows, rank 3)', async () => {
  const shapes = [
    [1, 1],
    [5, 3],
    [7, 10],
    [33, 17],
    [3, 100],
    [1, 1000],
    [130, 2, 5],
    [1000, 4],
    [65537, 64],
  ];
  for (const shape of shapes) {
    const rows = shape[0];
    const size = shape.reduce((a, b) => a * b, 1);
    const xs = f32(randn(size, size + rows));
    const x = gpu(xs, shape, 'x');
    rt().resetCounters();
    const y = sumRows(x);
    assert.equal(y.shape, shape.slice(1));
    if (rows === 65537)
      assert.is(rt().counters().byFamily.reduction, 3, '64 columns take 256 rows per chunk: 65537 → 257 → 2 → 1');
    checkSum(await y.data(), xs, rows, `sumRows [${shape}]`);
    x.dispose();
    y.dispose();
  }
});

t('backward of sum, mean and sumRows matches finite differences of float64', async () => {
  const total =
    (scale: (n: number) => number) =>
    ([x]: Float64Array[]) =>
      Float64Array.of(x.reduce((a, b) => a + b, 0) * scale(x.length));
  for (const n of [1, 37, 1000]) {
    const inputs = [{ data: randn(n, n), shape: [n], name: 'x' }];
    await checkGradients({ gpu: ([x]) => sum(x), cpu: total(() => 1), inputs });
    await checkGradients({ gpu: ([x]) => mean(x), cpu: total((m) => 1 / m), inputs });
  }
  // Any shape reduces fully.
  await checkGradients({
    gpu: ([x]) => mean(x),
    cpu: total((m) => 1 / m),
    inputs: [{ data: randn(30, 9), shape: [2, 3, 5] }],
  });
  for (const shape of [
    [7, 10],
    [5, 2, 3],
    [1, 4],
    [9, 1],
  ]) {
    const size = shape.reduce((a, b) => a * b, 1);
    await checkGradients({
      gpu: ([x]) => sumRows(x),
      cpu: ([x]) => columnSums(x, shape[0]).sums,
      inputs: [{ data: randn(size, size), shape }],
    });
  }
});

t('second order: products of sums (the broadcast backward is itself differentiated)', async () => {
  const total = (x: Float64Array) => x.reduce((a, b) => a + b, 0);
  const shape = [7, 3, 2];
  const inputs = [
    { data: randn(42, 21), shape, name: 'x' },
    { data: randn(42, 22), shape, name: 'y' },
  ];
  await checkSecondOrder({
    gpu: ([x, y]) => mul(sumRows(x), sumRows(y)),
    cpu: ([x, y]) => {
      const [sx, sy] = [columnSums(x, 7).sums, columnSums(y, 7).sums];
      return sx.map((v, i) => v * sy[i]);
    },
    inputs,
  });
  await checkSecondOrder({
    gpu: ([x, y]) => mul(mean(x), sum(y)),
    cpu: ([x, y]) => Float64Array.of((total(x) / x.length) * total(y)),
    inputs,
  });
});

t('errors name the op and the shapes', () => {
  tidy(() => {
    assertThrows(() => sumRows(gpu([1, 2, 3], [3], 'v')), /sumRows/, /rank >= 2/, /'v' \[3\]/);
    assertThrows(
      () => sum(tensor(Int32Array.of(1, 2), [2], { name: 'ints' })),
      /sum/,
      /must be f32/,
      /'ints' \[2\] i32/,
    );
  });
});

t.run();
