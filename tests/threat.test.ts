// The threat model (adversarial/threat.ts): its checks; every point each registered attack queries the model at,
// in both norms, on images and on feature vectors, inside the ball, the (widened) box and the mask, with fixed
// elements equal to the clean ones bit for bit; FGSM's L2 step against float64; FAB's L2 projection against a
// float64 bisection; suites skipping what does not apply, saying so.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { linear, tensor, type Tensor } from '../engine/index.js';
import { ATTACKS, createAttack, describeAttack, resolveAttack, suiteStages } from '../adversarial/attack-registry.js';
import type { AttackSetting } from '../adversarial/attack.js';
import { fgsm, projectHyperplane, type Classifier } from '../adversarial/attacks/index.js';
import { evaluateRobust } from '../adversarial/evaluate.js';
import { diameter, ThreatModel, type Norm, type ThreatDomain } from '../adversarial/threat.js';
import { hostSource, LinearModel } from './attack-fixtures.js';
import { assertThrows, randn, ready, rng } from './helpers.js';

const t = suite('threat');
t.before(ready);

const N = 6;
const K = 4;

/** A box narrower than the clean values' range (some clean values lie outside it) and every third element fixed. */
function domain(n: number): ThreatDomain {
  return {
    lower: Float32Array.from({ length: n }, (_, j) => (j % 5 === 1 ? 0 : 0.1)),
    upper: Float32Array.from({ length: n }, (_, j) => (j % 7 === 2 ? 1 : 0.85)),
    mutable: Uint8Array.from({ length: n }, (_, j) => (j % 3 === 0 ? 0 : 1)),
  };
}

const cleanRows = (n: number, seed: number): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: N * n }, () => r());
};

/**
 * Asserts that host point p (rows of `row` elements) is feasible for x: fixed elements bit-equal to x's, the box
 * widened to contain x, and (with `ball`) the ball (L-inf, or L2 with a relative tolerance of f32 rounding).
 */
function assertFeasible(threat: ThreatModel, x: Float32Array, p: Float32Array, what: string, ball = true): void {
  const row = threat.size;
  const { lower, upper, mutable } = threat.domain;
  for (let i = 0; i < p.length; i++) {
    const j = i % row;
    if (!mutable[j]) assert.ok(Object.is(p[i], x[i]), `${what}: fixed element ${i} moved from ${x[i]} to ${p[i]}`);
    else
      assert.ok(
        p[i] >= Math.min(lower[j], x[i]) && p[i] <= Math.max(upper[j], x[i]),
        `${what}: element ${i} = ${p[i]} outside the box`,
      );
  }
  for (let e = 0; ball && e < p.length / row; e++) {
    const d = threat.distance(p, x, e * row);
    assert.ok(
      d <= threat.eps * (1 + 1e-5) + 1e-7,
      `${what}: example ${e} at ${threat.norm} distance ${d} > eps ${threat.eps}`,
    );
  }
}

t('the constructor takes the box and mask per element and refuses what makes no threat model, naming it', () => {
  const d = domain(12);
  const m = new ThreatModel({ norm: 'l2', eps: 0.5 }, d);
  assert.equal([m.norm, m.eps, m.size, m.describe()], ['l2', 0.5, 12, 'L2 eps 0.5']);
  assert.is(ThreatModel.image({ norm: 'linf', eps: 8 / 255 }, [3, 2, 2]).describe(), 'eps 8/255');
  // The diameter over the mutable elements bounds eps: beyond it the ball holds the whole box.
  const widths = Array.from(d.lower, (lo, j) => (d.mutable[j] ? d.upper[j] - lo : 0));
  assert.ok(Math.abs(diameter('l2', d) - Math.hypot(...widths)) < 1e-6 && diameter('linf', d) === Math.max(...widths));
  assertThrows(
    () => new ThreatModel({ norm: 'linf', eps: 0.95 }, d),
    /eps must be in \[0,0\.[89]\d*\] for linf/,
    /got 0.95/,
  );
  assertThrows(() => new ThreatModel({ norm: 'l2', eps: -0.1 }, d), /eps must be in \[0,/, /got -0.1/);
  assertThrows(() => new ThreatModel({ norm: 'l1' as Norm, eps: 0.1 }, d), /norm must be one of linf, l2, got "l1"/);
  assertThrows(
    () => new ThreatModel({ norm: 'linf', eps: 0.1 }, { ...d, upper: d.upper.subarray(1) }),
    /one entry per input element, got 12, 11 and 12/,
  );
  assertThrows(
    () =>
      new ThreatModel(
        { norm: 'linf', eps: 0.1 },
        { ...d, lower: Float32Array.from(d.lower, (v, j) => (j === 4 ? 2 : v)) },
      ),
    /element 4: the box \[2, 0.85\d*\]/,
  );
  assertThrows(
    () => new ThreatModel({ norm: 'linf', eps: 0.1 }, { ...d, mutable: new Uint8Array(12) }),
    /no element is mutable/,
  );
});

t('FGSM in L2 is x + eps·g/‖g‖₂ over the mutable elements, in the box: against float64 on a linear model', async () => {
  const F = 10;
  const threat = new ThreatModel({ norm: 'l2', eps: 0.3 }, domain(F));
  const W = randn(K * F, 3);
  const b = randn(K, 4, 0.1);
  const w = tensor(Float32Array.from(W), [K, F], { name: 'W' });
  const bt = tensor(Float32Array.from(b), [K], { name: 'b' });
  const classify: Classifier = (v) => linear(v, w, bt);
  const xs = cleanRows(F, 5);
  const labels = Int32Array.from({ length: N }, (_, i) => i % K);
  const [x, y] = [tensor(xs, [N, F], { name: 'x' }), tensor(labels, [N], { name: 'y' })];
  const r = await fgsm(classify, x, y, { threat, loss: 'ce' });
  const got = await r.adv.data();
  for (let e = 0; e < N; e++) {
    // dCE/dx = Wᵀ(softmax(z) − onehot), zero where fixed.
    const z = Array.from(
      { length: K },
      (_, k) => b[k] + Array.from({ length: F }, (_, j) => W[k * F + j] * xs[e * F + j]).reduce((s, v) => s + v, 0),
    );
    const top = Math.max(...z);
    const p = z.map((v) => Math.exp(v - top));
    const total = p.reduce((s, v) => s + v, 0);
    const g = Array.from({ length: F }, (_, j) =>
      threat.domain.mutable[j]
        ? z.reduce((s, _, k) => s + W[k * F + j] * (p[k] / total - (k === labels[e] ? 1 : 0)), 0)
        : 0,
    );
    const norm = Math.hypot(...g);
    for (let j = 0; j < F; j++) {
      const i = e * F + j;
      const want = Math.min(
        Math.max(xs[i] + (0.3 * g[j]) / norm, Math.min(threat.domain.lower[j], xs[i])),
        Math.max(threat.domain.upper[j], xs[i]),
      );
      assert.ok(
        Math.abs(got[i] - (threat.domain.mutable[j] ? want : xs[i])) < 2e-6,
        `example ${e} element ${j}: ${got[i]} vs ${want}`,
      );
    }
  }
  for (const v of [r.adv, x, y, w, bt]) v.dispose();
  threat.dispose();
});

t(
  "FAB's L2 projection is the smallest L2 step onto the box-constrained hyperplane (against a float64 bisection)",
  () => {
    const r = rng(8);
    const n = 40;
    let reachable = 0;
    for (let trial = 0; trial < 40; trial++) {
      const lo = Float64Array.from({ length: n }, () => 0.2 * r());
      const hi = Float64Array.from(lo, (v) => v + 0.3 + 0.5 * r());
      const tt = Float64Array.from(lo, (v, i) => v + (hi[i] - v) * r());
      const w = Float64Array.from(randn(n, 200 + trial), (v, i) => (i % 9 === 4 ? 0 : v));
      const wt = tt.reduce((s, v, i) => s + v * w[i], 0);
      const b = wt + (r() - 0.5) * 0.5 * (1 + trial);
      const c = b - wt;
      const d = new Float64Array(n);
      const norm = projectHyperplane('l2', tt, w, b, lo, hi, d);
      assert.ok(
        d.every((v, i) => tt[i] + v >= lo[i] - 1e-12 && tt[i] + v <= hi[i] + 1e-12),
        `trial ${trial}: in the box`,
      );
      assert.ok(
        d.every((v, i) => w[i] !== 0 || v === 0),
        `trial ${trial}: coordinates with w = 0 stay`,
      );
      assert.ok(Math.abs(norm - Math.hypot(...d)) < 1e-12, `trial ${trial}: returns ‖d‖₂`);
      // The minimiser moves coordinate i by min(lambda·|w_i|, room_i) towards the plane: bisect lambda in float64.
      const room = (i: number) => (w[i] * c > 0 ? hi[i] - tt[i] : tt[i] - lo[i]);
      const reach = (lambda: number) =>
        w.reduce((s, wi, i) => s + Math.abs(wi) * Math.min(lambda * Math.abs(wi), room(i)), 0);
      if (reach(1e9) > Math.abs(c)) {
        reachable++;
        assert.ok(
          Math.abs(d.reduce((s, v, i) => s + v * w[i], 0) - c) < 1e-9 * (1 + Math.abs(c)),
          `trial ${trial}: on the hyperplane`,
        );
        let [a, z] = [0, 1e9];
        for (let k = 0; k < 200; k++) {
          const mid = (a + z) / 2;
          if (reach(mid) >= Math.abs(c)) z = mid;
          else a = mid;
        }
        const ref = Float64Array.from(w, (wi, i) => Math.sign(wi * c) * Math.min(z * Math.abs(wi), room(i)));
        assert.ok(
          ref.every((v, i) => Math.abs(v - d[i]) < 1e-9),
          `trial ${trial}: the bisection's step`,
        );
      } else {
        assert.ok(
          d.every((v, i) => w[i] === 0 || Math.abs(v - Math.sign(w[i] * c) * room(i)) < 1e-15),
          `trial ${trial}: the corner`,
        );
      }
    }
    assert.ok(reachable > 10 && reachable < 40, `both cases exercised: ${reachable} of 40 reachable`);
  },
);

/** Small options, so every attack runs in about a second; suites keep AutoAttack's 100 iterations. */
const SMALL: Record<string, Record<string, number>> = {
  pgd: { steps: 4 },
  'apgd-ce': { apgdSteps: 6 },
  'apgd-dlr': { apgdSteps: 6 },
  'apgd-t': { apgdSteps: 4 },
  'fab-t': { fabSteps: 6 },
  square: { queries: 12 },
  autoattack: { queries: 12 },
};

/**
 * Every registered attack on a batch of `shape` under `threat`: the points the model is queried at and the result
 * are feasible, fixed elements never move. A suite's stages that do not apply are skipped and named.
 */
async function everyAttack(
  shape: number[],
  threat: ThreatModel,
  classify: (v: Tensor) => Tensor,
  images: boolean,
  suites = true,
) {
  const xs = cleanRows(threat.size, 9);
  const labels = Int32Array.from({ length: N }, (_, i) => i % K);
  const setting: AttackSetting = { threat: threat.spec, images, classes: K };
  const seen: Promise<Float32Array>[] = [];
  const spy: Classifier = (v) => (seen.push(v.data()), classify(v));
  let ran = 0;
  for (const d of ATTACKS.filter((a) => suites || !a.stages)) {
    const r = resolveAttack({ name: d.name, ...SMALL[d.name] }, threat.spec);
    const why = d.unsupported?.(setting) ?? null;
    if (why) {
      assertThrows(
        () => createAttack(r, { threat, classes: K, seed: 1, stream: 0 }, setting),
        new RegExp(`attack ${d.name} cannot run here: ${why}`),
      );
      continue;
    }
    ran++;
    const x = tensor(xs, shape, { name: 'x' });
    const y = tensor(labels, [N], { name: 'y' });
    const res = await createAttack(r, { threat, classes: K, seed: 1, stream: 0 }, setting)(spy, x, y);
    const points = await Promise.all(seen.splice(0));
    // FAB (alone or in a suite) searches for the nearest boundary point beyond the ball too: its queries keep the
    // box and the mask, its result the ball as well.
    const ball = d.name !== 'fab-t' && !d.stages;
    // Suites and targeted attacks query subsets of the rows: match each query to its rows by the fixed elements.
    for (const [k, p] of points.entries()) {
      const rows = p.length / threat.size;
      const clean = rows === N ? xs : xs.subarray(0, 0);
      if (rows === N) assertFeasible(threat, clean, p, `${d.name} query ${k}`, ball);
      else {
        for (let e = 0; e < rows; e++) {
          const q = p.subarray(e * threat.size, (e + 1) * threat.size);
          const src = Array.from({ length: N }, (_, i) => i).find((i) =>
            q.every((v, j) => threat.domain.mutable[j] || Object.is(v, xs[i * threat.size + j])),
          );
          assert.ok(src !== undefined, `${d.name} query ${k} row ${e}: fixed elements of no clean row`);
          assertFeasible(
            threat,
            xs.subarray(src! * threat.size, (src! + 1) * threat.size),
            q,
            `${d.name} query ${k} row ${e}`,
            ball,
          );
        }
      }
    }
    assertFeasible(threat, xs, await res.adv.data(), `${d.name} result`);
    if (d.stages) {
      const skipped = suiteStages(r, setting)
        .filter((s) => s.skipped)
        .map((s) => s.stage.descriptor.name);
      for (const name of skipped) assert.match(describeAttack(r, setting), new RegExp(`; ${name} skipped: `));
      assert.is(
        res.stages!.length,
        suiteStages(r, setting).length - skipped.length,
        `${d.name}: the stages that apply ran`,
      );
    }
    for (const v of [res.adv, x, y]) v.dispose();
  }
  return ran;
}

for (const norm of ['linf', 'l2'] as const) {
  t(
    `${norm}: every registered attack queries and returns feasible points on images, fixed pixels untouched`,
    async () => {
      const [C, S] = [2, 4];
      const threat = new ThreatModel({ norm, eps: norm === 'linf' ? 0.3 : 1.2 }, domain(C * S * S));
      const model = new LinearModel(randn(K * C, 11, 40), randn(K, 12, 0.1), C);
      // The suites' stages are the attacks above; in L2 they run on feature vectors only (below), to keep this fast.
      const ran = await everyAttack([N, C, S, S], threat, model.classify, true, norm === 'linf');
      assert.is(
        ran,
        norm === 'linf' ? ATTACKS.length : ATTACKS.filter((a) => !a.stages).length - 1,
        'all but Square in L2',
      );
      model.dispose();
      threat.dispose();
    },
  );

  t(
    `${norm}: on feature vectors every attack but Square runs feasibly, and AutoAttack skips Square saying so`,
    async () => {
      const F = 12;
      const threat = new ThreatModel({ norm, eps: norm === 'linf' ? 0.3 : 1.2 }, domain(F));
      const w = tensor(Float32Array.from(randn(K * F, 13, 2)), [K, F], { name: 'W' });
      const b = tensor(new Float32Array(K), [K], { name: 'b' });
      const ran = await everyAttack([N, F], threat, (v) => linear(v, w, b), false);
      assert.is(ran, ATTACKS.length - 1, 'all but Square');
      const setting = { threat: threat.spec, images: false, classes: K };
      assert.is(
        describeAttack(resolveAttack({ name: 'autoattack' }, threat.spec), setting),
        `AutoAttack, standard (${threat.describe()}: APGD-CE, APGD-T, FAB-T); square skipped: defined on images only`,
      );
      // The evaluation's report names the skipped stage too.
      const rep = await evaluateRobust(
        (v) => linear(v, w, b),
        hostSource(
          cleanRows(F, 9),
          [N, F],
          Int32Array.from({ length: N }, (_, i) => i % K),
        ),
        [
          resolveAttack({ name: 'aa-lite' }, threat.spec),
          resolveAttack({ name: 'autoattack', queries: 5 }, threat.spec),
        ],
        { threat, classes: K, batch: N, seed: 0 },
      );
      assert.equal(
        rep.attacks.map((a) => a.skipped),
        [[], [{ name: 'square', reason: 'defined on images only' }]],
      );
      assert.equal(
        rep.attacks[1].stages!.map((s) => s.name),
        ['apgd-ce', 'apgd-t', 'fab-t'],
      );
      for (const v of [w, b]) v.dispose();
      threat.dispose();
    },
  );
}

t('L2 on images: Square is skipped in the suite, refused alone', () => {
  const setting = { threat: { norm: 'l2' as const, eps: 0.5 }, images: true, classes: 10 };
  assert.match(
    describeAttack(resolveAttack({ name: 'autoattack' }, setting.threat), setting),
    /; square skipped: L-inf only here$/,
  );
  const threat = ThreatModel.image(setting.threat, [3, 4, 4]);
  assertThrows(
    () => createAttack(resolveAttack({ name: 'square' }), { threat, classes: 10, seed: 0, stream: 0 }, setting),
    /attack square cannot run here: L-inf only here/,
  );
  threat.dispose();
});

t.run();
