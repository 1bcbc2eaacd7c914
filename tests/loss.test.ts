import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  argmax,
  countCorrect,
  dlrLoss,
  empty,
  logitDifference,
  marginLoss,
  mul,
  rt,
  softmaxCrossEntropy,
  sum,
  targetedDlrLoss,
  tensor,
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
  randn,
  randu,
  ready,
  rng,
} from './helpers.js';

const t = suite('loss');
t.before(ready);

// ---- float64 references (PyTorch semantics) ----

/** The values an f32 upload holds, in float64: references see exactly what the GPU sees. */
const f32 = (a: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(a));

/** Per-row softmax cross-entropy, logsumexp with the row max subtracted. */
function ceRows(z: Float64Array, y: Int32Array, k: number): Float64Array {
  return Float64Array.from(y, (label, i) => {
    const row = z.subarray(i * k, (i + 1) * k);
    const m = Math.max(...row);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    return m + Math.log(s) - row[label];
  });
}

const meanOf = (a: Float64Array): Float64Array => Float64Array.of(a.reduce((p, v) => p + v, 0) / a.length);

/** Lowest index of the largest value among row entries other than `skip`. */
function argmaxExcept(row: ArrayLike<number>, skip: number): number {
  let best = -1;
  for (let j = 0; j < row.length; j++) if (j !== skip && (best < 0 || row[j] > row[best])) best = j;
  return best;
}

function marginRows(z: Float64Array, y: Int32Array, k: number): Float64Array {
  return Float64Array.from(y, (label, i) => {
    const row = z.subarray(i * k, (i + 1) * k);
    return row[argmaxExcept(row, label)] - row[label];
  });
}

const randLabels = (n: number, k: number, seed: number): Int32Array => {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * k));
};

const labelsTensor = (y: Int32Array): Tensor => tensor(y, [y.length], { name: 'labels' });

/** Logits whose entries in a row are at least 0.3 apart, so max/argmax never flip under a finite difference. */
function spacedLogits(n: number, k: number, seed: number): Float64Array {
  const r = rng(seed);
  const z = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const order = Array.from({ length: k }, (_, j) => j).sort(() => r() - 0.5);
    for (let j = 0; j < k; j++) z[i * k + order[j]] = 0.5 * j - 0.25 * k + 0.1 * r();
  }
  return z;
}

// ---- cross-entropy ----

t('cross-entropy forward (mean and none) matches float64, including logits far beyond exp overflow', async () => {
  const cases: { k: number; n: number; z: (m: number, s: number) => Float64Array }[] = [];
  for (const k of [1, 2, 10, 100]) {
    for (const n of [1, 7, 129]) {
      // ±100 saturates the softmax and exp(100) overflows f32; N(0, 3²) keeps log(sum exp) significant.
      cases.push({ k, n, z: (m, s) => randu(m, s, -100, 100) });
      cases.push({ k, n, z: (m, s) => randn(m, s, 3) });
    }
  }
  // Every logit near 1000: only the max-subtracted form is finite; the loss is shift-invariant.
  cases.push({ k: 10, n: 5, z: (m, s) => randn(m, s, 2).map((v) => v + 1000) });
  let seed = 10;
  for (const c of cases) {
    seed++;
    const z = f32(c.z(c.n * c.k, seed));
    const y = randLabels(c.n, c.k, seed + 1000);
    const ref = ceRows(z, y, c.k);
    const logits = gpu(z, [c.n, c.k], 'logits');
    const labels = labelsTensor(y);
    const what = `N=${c.n} K=${c.k}`;
    const none = softmaxCrossEntropy(logits, labels, { reduction: 'none' });
    assert.equal(none.shape, [c.n]);
    assertClose(await none.data(), ref, `${what} none`);
    const mean = softmaxCrossEntropy(logits, labels);
    assert.equal(mean.shape, [1]);
    assertClose(await mean.data(), meanOf(ref), `${what} mean`);
    if (c.k === 1) assert.equal([...(await none.data())], new Array(c.n).fill(0), 'K=1: the loss is exactly 0');
    for (const x of [logits, labels, none, mean]) x.dispose();
  }
});

t('cross-entropy backward (mean and none) matches finite differences of float64', async () => {
  const cases = [
    { n: 5, k: 10, z: randn(50, 1, 3) },
    { n: 1, k: 2, z: randn(2, 2, 3) },
    { n: 7, k: 100, z: randn(700, 3, 2) },
    { n: 3, k: 1, z: randn(3, 4) },
    { n: 3, k: 10, z: randu(30, 5, -80, 80) },
  ];
  for (const c of cases) {
    const y = randLabels(c.n, c.k, c.n * 31 + c.k);
    const labels = labelsTensor(y);
    const inputs = [{ data: f32(c.z), shape: [c.n, c.k], name: 'logits' }];
    await checkGradients({
      gpu: ([z]) => softmaxCrossEntropy(z, labels, { reduction: 'none' }),
      cpu: ([z]) => ceRows(z, y, c.k),
      inputs,
    });
    await checkGradients({
      gpu: ([z]) => softmaxCrossEntropy(z, labels),
      cpu: ([z]) => meanOf(ceRows(z, y, c.k)),
      inputs,
    });
    labels.dispose();
  }
});

t('cross-entropy runs one loss kernel per direction (plus one reduction for the mean)', async () => {
  const logits = gpu(randn(60, 6), [6, 10], 'logits');
  const labels = labelsTensor(randLabels(6, 10, 7));
  rt().resetCounters();
  const { value, grads } = valueAndGrads(() => softmaxCrossEntropy(logits, labels), [logits]);
  const c = rt().counters();
  assert.is(c.byKernel.loss_forward, 1);
  assert.is(c.byKernel.loss_backward, 1);
  assert.is(c.byFamily.loss, 2);
  assert.is(c.byFamily.reduction, 1);
  for (const x of [value, ...grads, logits, labels]) x.dispose();
});

// ---- margin loss ----

t('marginLoss forward and backward match float64 (inputs free of near-ties)', async () => {
  for (const [n, k] of [
    [1, 2],
    [9, 10],
    [4, 100],
    [3, 3],
  ]) {
    const z = f32(spacedLogits(n, k, n + k));
    const y = randLabels(n, k, 3 * n + k);
    const labels = labelsTensor(y);
    await checkGradients({
      gpu: ([x]) => marginLoss(x, labels),
      cpu: ([x]) => marginRows(x, y, k),
      inputs: [{ data: z, shape: [n, k], name: 'logits' }],
    });
    labels.dispose();
  }
});

t(
  'second order: cross-entropy (mean and none) through the softmax Jacobian, and the margin (zero curvature)',
  async () => {
    for (const [n, k] of [
      [5, 10],
      [1, 2],
      [3, 4],
    ]) {
      const y = randLabels(n, k, n * 7 + k);
      const labels = labelsTensor(y);
      const inputs = [{ data: f32(randn(n * k, n + k, 2)), shape: [n, k], name: 'logits' }];
      await checkSecondOrder({
        gpu: ([z]) => softmaxCrossEntropy(z, labels, { reduction: 'none' }),
        cpu: ([z]) => ceRows(z, y, k),
        inputs,
      });
      await checkSecondOrder({
        gpu: ([z]) => softmaxCrossEntropy(z, labels),
        cpu: ([z]) => meanOf(ceRows(z, y, k)),
        inputs,
      });
      const spaced = [{ data: f32(spacedLogits(n, k, n + 2 * k)), shape: [n, k], name: 'logits' }];
      await checkSecondOrder({
        gpu: ([z]) => marginLoss(z, labels),
        cpu: ([z]) => marginRows(z, y, k),
        inputs: spaced,
      });
      labels.dispose();
    }
  },
);

t('third order: the create-graph gradient of the cross-entropy, differentiated twice more', async () => {
  const [n, k] = [3, 4];
  const y = randLabels(n, k, 77);
  const labels = labelsTensor(y);
  // The float64 reference is the analytic gradient (softmax - onehot)/n, so that checkSecondOrder's second
  // differences of it are third derivatives of the loss.
  const gradRef = ([z]: Float64Array[]) => {
    const g = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      const row = z.subarray(i * k, (i + 1) * k);
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < k; j++) g[i * k + j] = (e[j] / s - (j === y[i] ? 1 : 0)) / n;
    }
    return g;
  };
  await checkSecondOrder({
    gpu: ([z]) => valueAndGrads(() => softmaxCrossEntropy(z, labels), [z], { createGraph: true }).grads[0],
    cpu: gradRef,
    inputs: [{ data: f32(randn(n * k, 78, 2)), shape: [n, k], name: 'logits' }],
  });
  labels.dispose();
});

t('marginLoss breaks ties for the runner-up at the lowest index', async () => {
  const z = [3, 5, 5, 1, /**/ 5, 5, 2, 0, /**/ 2, 7, 7, 7];
  const y = Int32Array.of(0, 1, 3);
  const logits = gpu(z, [3, 4], 'logits');
  const labels = labelsTensor(y);
  const seed = gpu([1, 1, 1], [3], 'seed');
  const { value, grads } = valueAndGrads(() => marginLoss(logits, labels), [logits], { seed });
  assertClose(await value.data(), [2, 0, 0], 'margins', 0, 0);
  // Row 0: the runner-up is j=1 (not 2); row 1: j=0; row 2: j=1 (not 2).
  assertClose(await grads[0].data(), [-1, 1, 0, 0, /**/ 1, -1, 0, 0, /**/ 0, 1, 0, -1], 'gradient', 0, 0);
  for (const x of [value, ...grads, logits, labels, seed]) x.dispose();
});

// ---- DLR losses (AutoAttack) ----

/** Row indices sorted by value, largest first, ties by the lowest index (a stable descending sort). */
const ranked = (row: ArrayLike<number>): number[] =>
  Array.from({ length: row.length }, (_, j) => j).sort((a, b) => row[b] - row[a] || a - b);

/** AutoAttack's dlr_loss (targets null) and dlr_loss_targeted, in float64. */
function dlrRows(z: Float64Array, y: Int32Array, k: number, targets: Int32Array | null): Float64Array {
  return Float64Array.from(y, (label, i) => {
    const row = z.subarray(i * k, (i + 1) * k);
    const s = ranked(row).map((j) => row[j]);
    if (targets) return -(row[label] - row[targets[i]]) / (s[0] - 0.5 * (s[2] + s[3]) + 1e-12);
    const other = ranked(row)[0] === label ? s[1] : s[0];
    return -(row[label] - other) / (s[0] - s[2] + 1e-12);
  });
}

/** Targets != labels, uniform over the other classes. */
function randTargets(y: Int32Array, k: number, seed: number): Int32Array {
  const r = rng(seed);
  return y.map((label) => (label + 1 + Math.floor(r() * (k - 1))) % k);
}

t('dlrLoss and targetedDlrLoss forward and backward match float64 and finite differences', async () => {
  for (const [n, k] of [
    [9, 10],
    [4, 100],
    [5, 4],
    [3, 3],
  ]) {
    const z = f32(spacedLogits(n, k, 7 * n + k));
    const y = randLabels(n, k, 11 * n + k);
    // Half the rows labelled with their top class, so both branches of z_o are exercised.
    for (let i = 0; i < n; i += 2) y[i] = ranked(z.subarray(i * k, (i + 1) * k))[0];
    const labels = labelsTensor(y);
    const inputs = [{ data: z, shape: [n, k], name: 'logits' }];
    await checkGradients({ gpu: ([x]) => dlrLoss(x, labels), cpu: ([x]) => dlrRows(x, y, k, null), inputs });
    if (k >= 4) {
      const tg = randTargets(y, k, n + 5 * k);
      const targets = labelsTensor(tg);
      await checkGradients({
        gpu: ([x]) => targetedDlrLoss(x, labels, targets),
        cpu: ([x]) => dlrRows(x, y, k, tg),
        inputs,
      });
      await checkGradients({
        gpu: ([x]) => logitDifference(x, labels, targets),
        cpu: ([x]) => Float64Array.from(y, (label, i) => x[i * k + tg[i]] - x[i * k + label]),
        inputs,
      });
      targets.dispose();
    }
    labels.dispose();
  }
});

t('DLR values: scale and shift invariant, known rows, ranks tied at the lowest index', async () => {
  // Row 0: top class is y=1 (5), so z_o = 4 and D = 5 - 2: -(5-4)/3. Row 1: y=3 (1), top 0 (5): -(1-5)/(5-2).
  // Row 2: z = [2, 7, 7, 3] sorts to 7, 7, 3, 2 (the tied 7s rank j=1 first), y=0: -(2-7)/(7-3).
  const z = [2, 5, 4, 1, /**/ 5, 2, 4, 1, /**/ 2, 7, 7, 3];
  const y = Int32Array.of(1, 3, 0);
  const expected = [-1 / 3, 4 / 3, 5 / 4];
  const labels = labelsTensor(y);
  for (const [a, b] of [
    [1, 0],
    [10, -3],
    [0.1, 100],
  ]) {
    const logits = gpu(
      z.map((v) => a * v + b),
      [3, 4],
      'logits',
    );
    const v = dlrLoss(logits, labels);
    // rtol 1e-4: 0.1·z + 100 is rounded to f32 (ulp 7.6e-6 at 100) before the differences of about 0.3 are taken.
    const rtol = 1e-4;
    assertClose(await v.data(), expected, `DLR of ${a}·z + ${b}`, rtol, 1e-6);
    // Targeted, t = [0, 2, 3]: D = z_pi1 - (z_pi3 + z_pi4)/2 = 5 - 1.5, 5 - 1.5, 7 - 2.5.
    const targets = labelsTensor(Int32Array.of(0, 2, 3));
    const tv = targetedDlrLoss(logits, labels, targets);
    assertClose(
      await tv.data(),
      [-(5 - 2) / 3.5, -(1 - 4) / 3.5, -(2 - 3) / 4.5],
      `targeted DLR of ${a}·z + ${b}`,
      rtol,
      1e-6,
    );
    for (const x of [logits, v, targets, tv]) x.dispose();
  }
  // Tied ranks: d/dz goes to the lowest index among equal logits, like the stable sort of the reference.
  const logits = gpu(z, [3, 4], 'logits');
  const seed = gpu([1, 1, 1], [3], 'seed');
  const { grads } = valueAndGrads(() => dlrLoss(logits, labels), [logits], { seed });
  // Row 2: loss = -(z_0 - z_1)/(z_1 - z_3) with pi1 = 1, pi3 = 3 (z_2 is pi2, unused): d/dz_0 = -1/4,
  // d/dz_1 = 1/4 + (2-7)/16, d/dz_3 = +5/16.
  const g = await grads[0].data();
  assertClose(g.slice(8), [-1 / 4, 1 / 4 - 5 / 16, 0, 5 / 16], 'row 2 gradient', 1e-5, 1e-6);
  for (const x of [logits, seed, labels, ...grads]) x.dispose();
});

t(
  'second derivatives: the logit difference has none (its gradient is constant), DLR refuses rather than returning 0',
  async () => {
    const z = gpu(f32(spacedLogits(3, 5, 41)), [3, 5], 'logits');
    const labels = labelsTensor(Int32Array.of(0, 2, 4));
    const targets = labelsTensor(Int32Array.of(1, 3, 0));
    const seed = gpu([1, -2, 3], [3], 'seed');
    // d/dz of <d loss/dz, r>: zero for z_t - z_y.
    const r = gpu(randn(15, 42), [3, 5], 'r');
    const second = (f: (x: Tensor) => Tensor) =>
      valueAndGrads(() => {
        const g = valueAndGrads(() => f(z), [z], { seed, createGraph: true }).grads[0];
        return sum(mul(g, r));
      }, [z]);
    const { grads } = second((x) => logitDifference(x, labels, targets));
    assert.equal([...(await grads[0].data())], new Array(15).fill(0));
    assertThrows(
      () => second((x) => dlrLoss(x, labels)),
      /dlrGrad/,
      /second derivative of the DLR losses/,
      /not implemented/,
    );
    assertThrows(() => second((x) => targetedDlrLoss(x, labels, targets)), /targetedDlrGrad/, /not implemented/);
    for (const x of [z, labels, targets, seed, r, ...grads]) x.dispose();
  },
);

// ---- argmax and accuracy ----

t('argmax and countCorrect pick the lowest index on ties', async () => {
  const z = [1, 3, 3, 0, /**/ 2, 2, 2, 2, /**/ -1, -5, -1, -3, /**/ 0, 0, 0, 7];
  const logits = gpu(z, [4, 4], 'logits');
  const idx = argmax(logits);
  assert.is(idx.dtype, 'i32');
  assert.equal([...(await idx.ints())], [1, 0, 0, 3]);
  // Row 1's label 3 is among its tied maxima but not the lowest: wrong, as torch.argmax would count it.
  const labels = labelsTensor(Int32Array.of(1, 3, 0, 3));
  const count = countCorrect(logits, labels);
  assert.equal(count.shape, [1]);
  assert.is(await count.item(), 3);
  for (const x of [logits, idx, labels, count]) x.dispose();
});

t('argmax and countCorrect match float64 on random logits; argmax output serves as labels', async () => {
  for (const [n, k] of [
    [1, 1],
    [129, 10],
    [70, 100],
    [5, 2],
  ]) {
    const z = f32(randn(n * k, n + k));
    const logits = gpu(z, [n, k], 'logits');
    const ref = Array.from({ length: n }, (_, i) => argmaxExcept(z.subarray(i * k, (i + 1) * k), -1));
    const idx = argmax(logits);
    assert.equal([...(await idx.ints())], ref, `argmax N=${n} K=${k}`);
    assert.equal(idx.intRange, [0, k - 1]);
    const y = randLabels(n, k, 5 * n + k);
    const labels = labelsTensor(y);
    const count = countCorrect(logits, labels);
    assert.is(await count.item(), ref.filter((j, i) => j === y[i]).length, `countCorrect N=${n} K=${k}`);
    const own = countCorrect(logits, idx);
    assert.is(await own.item(), n, 'every row agrees with its own argmax');
    const ce = softmaxCrossEntropy(logits, idx, { reduction: 'none' });
    assertClose(await ce.data(), ceRows(z, Int32Array.from(ref), k), 'cross-entropy against the predictions');
    for (const x of [logits, idx, labels, count, own, ce]) x.dispose();
  }
});

// ---- labels of unknown range and errors ----

t('a GPU-side label outside [0, K) makes its row NaN (and wrong), the other rows unaffected', async () => {
  // Written after creation, so the tensor carries no host range and the op cannot check it.
  const labels = empty([3], 'labels', 'i32');
  labels.write(Int32Array.of(0, 12, 1));
  assert.is(labels.intRange, undefined);
  const z = f32(randn(12, 8));
  const logits = gpu(z, [3, 4], 'logits');
  const seed = gpu([1, 1, 1], [3], 'seed');
  const ref = ceRows(z, Int32Array.of(0, 0, 1), 4);
  for (const f of [
    (x: Tensor) => softmaxCrossEntropy(x, labels, { reduction: 'none' }),
    (x: Tensor) => marginLoss(x, labels),
  ]) {
    const { value, grads } = valueAndGrads(() => f(logits), [logits], { seed });
    const v = await value.data();
    const g = await grads[0].data();
    assert.ok(Number.isNaN(v[1]) && Number.isFinite(v[0]) && Number.isFinite(v[2]), `losses ${v}`);
    assert.ok(g.slice(4, 8).every(Number.isNaN), `row 1 of the gradient ${g.slice(4, 8)}`);
    assert.ok([...g.slice(0, 4), ...g.slice(8)].every(Number.isFinite), 'other rows finite');
    value.dispose();
    grads[0].dispose();
  }
  const ce = softmaxCrossEntropy(logits, labels, { reduction: 'none' });
  const v = await ce.data();
  assertClose([v[0], v[2]], [ref[0], ref[2]], 'valid rows');
  const count = countCorrect(logits, labels);
  const hit = (i: number, label: number) => (argmaxExcept(z.subarray(4 * i, 4 * i + 4), -1) === label ? 1 : 0);
  assert.is(await count.item(), hit(0, 0) + hit(2, 1), 'row 1 never counts');
  for (const x of [labels, logits, seed, ce, count]) x.dispose();
});

t('errors name the op, the bad label and K, and the shapes', () => {
  tidy(() => {
    const logits = gpu(randn(40, 1), [4, 10], 'logits');
    const y = (...v: number[]) => tensor(Int32Array.from(v), [v.length], { name: 'y' });
    assertThrows(
      () => softmaxCrossEntropy(logits, y(0, 10, 3, 2)),
      /softmaxCrossEntropy/,
      /label 10 /,
      /K = 10/,
      /\[4,10\]/,
    );
    assertThrows(() => softmaxCrossEntropy(logits, y(0, -1, 3, 2)), /softmaxCrossEntropy/, /label -1 /, /K = 10/);
    assertThrows(() => marginLoss(logits, y(0, 1, 30, 2)), /marginLoss/, /label 30 /, /K = 10/);
    assertThrows(() => countCorrect(logits, y(0, 1, 3, 10)), /countCorrect/, /label 10 /, /K = 10/);
    assertThrows(
      () => softmaxCrossEntropy(gpu(randn(10, 2), [10], 'flat'), y(0)),
      /softmaxCrossEntropy/,
      /rank 2/,
      /'flat' \[10\]/,
    );
    assertThrows(() => argmax(gpu(randn(8, 2), [2, 2, 2], 'cube')), /argmax/, /rank 2/, /\[2,2,2\]/);
    assertThrows(() => softmaxCrossEntropy(logits, y(0, 1, 2)), /'y' \[3\] i32/, /'logits' \[4,10\]/);
    assertThrows(() => softmaxCrossEntropy(logits, gpu([0, 1, 2, 3], [4], 'fy')), /labels must be i32/, /'fy' \[4\]/);
    assertThrows(
      () => softmaxCrossEntropy(logits, y(0, 1, 2, 3), { reduction: 'sum' as 'mean' }),
      /reduction/,
      /'sum'/,
    );
    assertThrows(() => marginLoss(gpu([1, 2], [2, 1], 'one'), y(0, 0)), /marginLoss/, /K = 1/, /\[2,1\]/);
    assertThrows(() => dlrLoss(gpu(randn(4, 3), [2, 2], 'two'), y(0, 0)), /dlrLoss/, /K = 2/, /at least 3/);
    assertThrows(
      () => targetedDlrLoss(gpu(randn(6, 3), [2, 3], 'three'), y(0, 0), y(1, 1)),
      /targetedDlrLoss/,
      /at least 4/,
    );
    assertThrows(
      () => targetedDlrLoss(logits, y(0, 1, 2, 3), y(1, 1, 10, 1)),
      /targetedDlrLoss \(targets\)/,
      /label 10 /,
    );
  });
});

t.run();
