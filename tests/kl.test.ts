// The softmax KL divergence (kl.wgsl, softmaxKl): forward against float64, backward to both logit tensors against
// central finite differences of the float64 reference, and the backward's own derivatives (create-graph), for each
// reduction.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rt, softmaxKl, tidy, valueAndGrads, type KlOptions, type Tensor } from '../engine/index.js';
import { assertClose, assertThrows, checkGradients, checkSecondOrder, gpu, randn, randu, ready } from './helpers.js';

const t = suite('kl');
t.before(ready);

/** The values an f32 upload holds, in float64. */
const f32 = (a: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(a));

/** log softmax of one row, in float64 with the max subtracted. */
function logSoftmax(row: Float64Array): Float64Array {
  const m = Math.max(...row);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return row.map((v) => v - lse);
}

/** KL(softmax p_i || softmax q_i) per row, then the reduction. */
function klRef(p: Float64Array, q: Float64Array, k: number, reduction: KlOptions['reduction'] = 'mean'): Float64Array {
  const n = p.length / k;
  const rows = Float64Array.from({ length: n }, (_, i) => {
    const lp = logSoftmax(p.subarray(i * k, (i + 1) * k));
    const lq = logSoftmax(q.subarray(i * k, (i + 1) * k));
    return lp.reduce((s, v, j) => s + Math.exp(v) * (v - lq[j]), 0);
  });
  if (reduction === 'none') return rows;
  const total = rows.reduce((s, v) => s + v, 0);
  return Float64Array.of(reduction === 'sum' ? total : total / n);
}

const REDUCTIONS = ['none', 'sum', 'mean'] as const;

t(
  'forward (none, sum, mean) matches float64, including saturated softmaxes and logits beyond exp overflow',
  async () => {
    const cases: { n: number; k: number; p: Float64Array; q: Float64Array }[] = [];
    let seed = 1;
    for (const k of [1, 2, 10, 100]) {
      for (const n of [1, 7, 129]) {
        seed += 2;
        cases.push({ n, k, p: randn(n * k, seed, 3), q: randn(n * k, seed + 1, 3) });
        // ±80: most probabilities underflow f32 (the 0·log 0 terms must vanish) and exp(80) is near f32's limit.
        cases.push({ n, k, p: randu(n * k, seed + 50, -80, 80), q: randu(n * k, seed + 51, -80, 80) });
      }
    }
    // Every logit near 1000: only the max-subtracted form is finite; KL is invariant to a per-row shift.
    cases.push({ n: 5, k: 10, p: randn(50, 7, 2).map((v) => v + 1000), q: randn(50, 8, 2).map((v) => v - 1000) });
    for (const c of cases) {
      const p = f32(c.p);
      const q = f32(c.q);
      const pt = gpu(p, [c.n, c.k], 'p');
      const qt = gpu(q, [c.n, c.k], 'q');
      for (const reduction of REDUCTIONS) {
        const y = softmaxKl(pt, qt, { reduction });
        assert.equal(y.shape, reduction === 'none' ? [c.n] : [1]);
        const ref = klRef(p, q, c.k, reduction);
        // Saturated rows reach KL ~ 100: f32 logit differences of 160 keep about 1e-5 relative.
        assertClose(await y.data(), ref, `N=${c.n} K=${c.k} ${reduction}`, 1e-4, 1e-4);
        if (c.k === 1)
          assert.ok(
            (await y.data()).every((v) => v === 0),
            'K=1: the divergence is exactly 0',
          );
        y.dispose();
      }
      pt.dispose();
      qt.dispose();
    }
  },
);

t('KL of a distribution with itself is 0, and KL is not symmetric', async () => {
  const z = f32(randn(40, 3, 2));
  const w = f32(randn(40, 4, 2));
  const [a, b] = [gpu(z, [4, 10], 'a'), gpu(w, [4, 10], 'b')];
  const outs = [
    softmaxKl(a, a, { reduction: 'none' }),
    softmaxKl(a, b, { reduction: 'sum' }),
    softmaxKl(b, a, { reduction: 'sum' }),
  ];
  const [self, ab, ba] = await Promise.all(outs.map((o) => o.data()));
  assertClose(self, new Float64Array(4), 'KL(a || a)', 0, 1e-6);
  assertClose([ab[0], ba[0]], [klRef(z, w, 10, 'sum')[0], klRef(w, z, 10, 'sum')[0]], 'both orders');
  assert.ok(Math.abs(ab[0] - ba[0]) > 1e-2, `KL(a||b) ${ab[0]} differs from KL(b||a) ${ba[0]}`);
  for (const x of [a, b, ...outs]) x.dispose();
});

t(
  'backward to both logit tensors, and its own derivatives (create-graph), match finite differences of float64',
  async () => {
    const cases = [
      { n: 5, k: 10, p: randn(50, 11, 2), q: randn(50, 12, 2) },
      { n: 1, k: 2, p: randn(2, 13, 3), q: randn(2, 14, 3) },
      { n: 6, k: 100, p: randn(600, 15, 2), q: randn(600, 16, 2) },
      { n: 3, k: 1, p: randn(3, 17), q: randn(3, 18) },
      // Nearly equal rows, as at the start of TRADES' attack (x' = x + 0.001·noise).
      { n: 4, k: 10, p: randn(40, 19, 2), q: randn(40, 19, 2).map((v, i) => v + 0.01 * Math.sin(i)) },
    ];
    for (const c of cases) {
      for (const reduction of REDUCTIONS) {
        const kl = {
          gpu: ([p, q]: Tensor[]) => softmaxKl(p, q, { reduction }),
          cpu: ([p, q]: Float64Array[]) => klRef(p, q, c.k, reduction),
          inputs: [
            { data: f32(c.p), shape: [c.n, c.k], name: 'p' },
            { data: f32(c.q), shape: [c.n, c.k], name: 'q' },
          ],
        };
        await checkGradients(kl);
        // Hessian-vector products in p and q, and the backward's derivative in its incoming cotangent.
        await checkSecondOrder(kl);
      }
    }
  },
);

t('one forward kernel plus a reduction; one backward kernel per logit tensor that needs a gradient', async () => {
  const p = gpu(randn(60, 21), [6, 10], 'p');
  const q = gpu(randn(60, 22), [6, 10], 'q');
  for (const [wrt, want] of [
    [[p, q], 2],
    [[q], 1],
    [[p], 1],
  ] as const) {
    rt().resetCounters();
    const { value, grads } = valueAndGrads(() => softmaxKl(p, q), wrt);
    const c = rt().counters();
    assert.is(c.byKernel.kl_forward, 1);
    assert.is(c.byKernel.kl_backward, want, `gradients of ${wrt.map((x) => x.name).join(', ')}`);
    assert.is(c.byFamily.reduction, 1);
    for (const x of [value, ...grads]) x.dispose();
  }
  p.dispose();
  q.dispose();
});

t('errors name the op and the shapes', () => {
  tidy(() => {
    const p = gpu(randn(40, 1), [4, 10], 'p');
    assertThrows(() => softmaxKl(p, gpu(randn(30, 2), [3, 10], 'q')), /softmaxKl/, /'p' \[4,10\]/, /'q' \[3,10\]/);
    assertThrows(() => softmaxKl(p, gpu(randn(40, 2), [4, 5, 2], 'cube')), /softmaxKl/, /rank 2/, /\[4,5,2\]/);
    assertThrows(() => softmaxKl(p, p, { reduction: 'batchmean' as 'mean' }), /softmaxKl/, /reduction/, /'batchmean'/);
  });
});

t.run();
