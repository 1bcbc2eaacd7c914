// AutoAttack's attacks (APGD-DLR, APGD-T, FAB-T, Square) and its staged protocol, on tiny 10-class models over
// 8x8 three-channel images (tests/attack-fixtures.ts): a linear model on channel means, whose exact robustness and
// ranked logits are computed in float64 here, and a conv-BN-ReLU-pool-linear net trained in the test.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { memory, rt, tensor, tidy, type Tensor } from '../engine/index.js';
import {
  apgd,
  apgdTargeted,
  fabTargeted,
  projectHyperplane,
  rankedClasses,
  runStages,
  square,
  squareFraction,
  type AttackResult,
  type Classifier,
  type Stage,
} from '../adversarial/attacks/index.js';
import {
  channelMeans,
  correctOn as fixtureCorrectOn,
  extent as fixtureExtent,
  linfImages,
  LinearModel,
  makeData,
  trainedBatch,
  TinyNet,
} from './attack-fixtures.js';
import { randn, rng } from './helpers.js';

const t = suite('autoattack');

const [N, C, S, K] = [40, 3, 8, 10];
const P = S * S;
const ROW = C * P;
const EPS = 8 / 255;
const LINF = linfImages(EPS, C, S);
const DATA = makeData({ n: N, c: C, s: S, k: K }, 21);

let x: Tensor, y: Tensor, net: TinyNet, classifyNet: Classifier;

t.before(async () => {
  ({
    x,
    y,
    net,
    classify: classifyNet,
  } = await trainedBatch({ n: N, c: C, s: S, k: K }, DATA, { seed: 5, width: 8, steps: 80 }));
  LINF.upload();
});

const count = (flags: readonly boolean[]): number => flags.filter(Boolean).length;
const correctOn = (classify: Classifier, v: Tensor, labels: ArrayLike<number> = DATA.labels) =>
  fixtureCorrectOn(classify, v, labels);
const extent = (adv: Tensor) => fixtureExtent(adv, DATA.x);

/** Float64: the classes of a row sorted by logit, largest first, ties to the lowest index. */
const ranks = (z: number[]): number[] => z.map((_, j) => j).sort((a, b) => z[b] - z[a] || a - b);

t(
  'projectHyperplane is the smallest L-inf step onto the box-constrained hyperplane (against a float64 bisection)',
  () => {
    const r = rng(3);
    const n = 50;
    /** The largest change of w·d reachable with |d_i| <= lambda inside the box, towards sign c. */
    const reach = (tt: Float64Array, w: Float64Array, c: number, lambda: number) =>
      tt.reduce((s, v, i) => s + Math.abs(w[i]) * Math.min(lambda, w[i] * c > 0 ? 1 - v : v), 0);
    let reachable = 0;
    for (let trial = 0; trial < 40; trial++) {
      const tt = Float64Array.from({ length: n }, () => (r() < 0.1 ? 0 : r() < 0.1 ? 1 : r()));
      const w = Float64Array.from(randn(n, 100 + trial), (v, i) => (i % 7 === 3 ? 0 : v));
      const wt = tt.reduce((s, v, i) => s + v * w[i], 0);
      // Hyperplanes from close to far: the far ones lie beyond the box.
      const b = wt + (r() - 0.5) * 2 * (1 + trial);
      const d = new Float64Array(n);
      const norm = projectHyperplane('linf', tt, w, b, new Float64Array(n), new Float64Array(n).fill(1), d);
      const c = b - wt;
      assert.ok(
        d.every((v, i) => tt[i] + v >= -1e-12 && tt[i] + v <= 1 + 1e-12),
        `trial ${trial}: in the box`,
      );
      assert.ok(
        d.every((v, i) => w[i] !== 0 || v === 0),
        `trial ${trial}: coordinates with w = 0 stay`,
      );
      assert.ok(Math.abs(norm - Math.max(...d.map(Math.abs))) < 1e-12, `trial ${trial}: returns ||d||_inf`);
      const full = reach(tt, w, c, 1);
      if (full > Math.abs(c)) {
        reachable++;
        const wd = d.reduce((s, v, i) => s + v * w[i], 0);
        assert.ok(Math.abs(wd - c) < 1e-9 * (1 + Math.abs(c)), `trial ${trial}: on the hyperplane (w·d ${wd} vs ${c})`);
        let [lo, hi] = [0, 1];
        for (let k = 0; k < 100; k++) {
          const mid = (lo + hi) / 2;
          if (reach(tt, w, c, mid) >= Math.abs(c)) hi = mid;
          else lo = mid;
        }
        assert.ok(Math.abs(norm - hi) < 1e-9, `trial ${trial}: radius ${norm}, bisection ${hi}`);
      } else {
        // Out of reach: every coordinate goes to the box face that moves w·d towards the hyperplane.
        assert.ok(
          d.every((v, i) => w[i] === 0 || v === (w[i] * c > 0 ? 1 - tt[i] : -tt[i])),
          `trial ${trial}: the corner`,
        );
      }
    }
    assert.ok(reachable > 10 && reachable < 40, `both cases exercised: ${reachable} of 40 reachable`);
  },
);

t('the targets of APGD-T and FAB-T are the classes ranked 2..10 by the clean logits (float64 reference)', async () => {
  const model = new LinearModel(randn(K * C, 7), randn(K, 8, 0.1), C);
  const z = tidy(() => model.classify(x));
  const logits = await z.data();
  z.dispose();
  const idx = [0, 3, 4, 17, 39];
  for (let rank = 1; rank <= K; rank++) {
    const expected = idx.map((i) => ranks(model.logits(channelMeans(DATA.x, i, C, P)))[rank - 1]);
    assert.equal(Array.from(rankedClasses(logits, K, idx, rank)), expected, `rank ${rank}`);
  }
  model.dispose();
});

const ATTACKS: [string, (c: Classifier) => Promise<AttackResult>][] = [
  ['apgd-dlr', (c) => apgd(c, x, y, { threat: LINF, steps: 20, loss: 'dlr', seed: 1 })],
  ['apgd-t', (c) => apgdTargeted(c, x, y, { threat: LINF, steps: 10, targets: 3, seed: 2 })],
  ['fab-t', (c) => fabTargeted(c, x, y, { threat: LINF, steps: 10, targets: 3 })],
  ['square', (c) => square(c, x, y, { threat: LINF, queries: 60, seed: 3 })],
];

t(
  'APGD-DLR, APGD-T, FAB-T and Square stay in the eps ball and [0,1], flag what fools, reproduce, leak nothing, touch no BN statistics',
  async () => {
    const clean = count(await correctOn(classifyNet, x));
    assert.ok(clean >= 30 && clean < N, `the trained net fits most of the batch: ${clean} of ${N}`);
    const stats = () =>
      Promise.all([net.bn.runningMean.data(), net.bn.runningVar.data()]).then((s) => s.map((a) => Array.from(a)));
    const before = await stats();
    for (const [name, attack] of ATTACKS) {
      rt().resetCounters();
      const live = memory().liveTensors;
      const r = await attack(classifyNet);
      assert.is(memory().liveTensors, live + 1, `${name}: leaves the adversarial batch only`);
      const { byFamily, byKernel } = rt().counters();
      const e = await extent(r.adv);
      assert.ok(e.dist <= EPS + 1e-6, `${name}: max |adv - x| = ${e.dist} > eps`);
      assert.ok(e.lo >= 0 && e.hi <= 1, `${name}: adv in [${e.lo}, ${e.hi}]`);
      assert.equal(await correctOn(classifyNet, r.adv), r.correct, `${name}: flags match a fresh forward pass on adv`);
      assert.ok(count(r.correct) < clean, `${name}: ${count(r.correct)} correct vs ${clean} clean`);
      // One global average pool per forward pass of this net, one loss backward per backward pass; no weight gradient.
      assert.is(byKernel.avgpool, r.passes.forward, `${name}: forward passes`);
      assert.is(byKernel.loss_backward ?? 0, r.passes.backwardInputOnly, `${name}: backward passes`);
      assert.is(
        (byFamily['conv-weight-grad'] ?? 0) + (byFamily['weight-grad'] ?? 0),
        0,
        `${name}: ${JSON.stringify(byFamily)}`,
      );
      const again = await attack(classifyNet);
      assert.equal(Array.from(await again.adv.data()), Array.from(await r.adv.data()), `${name}: reproducible`);
      assert.equal(again.correct, r.correct);
      r.adv.dispose();
      again.adv.dispose();
    }
    assert.equal(await stats(), before, 'running statistics untouched');
  },
);

t('Square queries the logits only: its passes show no backward pass; p follows the rescaled schedule', async () => {
  const r = await square(classifyNet, x, y, { threat: LINF, queries: 30, seed: 4 });
  assert.is(r.passes.backwardInputOnly, 0);
  assert.is(r.passes.backwardWeights, undefined);
  assert.ok(r.passes.forward >= 2 && r.passes.forward <= 32, `stripes + clean + up to 30 queries: ${r.passes.forward}`);
  r.adv.dispose();
  // square.py p_selection with 5000 queries: it = int(i / 5000 · 10000).
  const p = (i: number) => squareFraction(i, 5000, 0.8);
  assert.equal(
    [p(0), p(5), p(6), p(25), p(26), p(100), p(101), p(4999)],
    [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.8 / 512],
  );
  // With no query left, the start: vertical stripes at x ± eps, one sign per (example, channel, column).
  const s = await square(classifyNet, x, y, { threat: LINF, queries: 0, seed: 4 });
  const a = await s.adv.data();
  const clean = await correctOn(classifyNet, x);
  let stripes = 0;
  for (let i = 0; i < N; i++) {
    if (!clean[i]) continue;
    for (let c = 0; c < C; c++) {
      for (let col = 0; col < S; col++) {
        const dirs = new Set<number>();
        for (let row = 0; row < S; row++) {
          const j = i * ROW + c * P + row * S + col;
          const up = Math.min(DATA.x[j] + EPS, 1);
          const down = Math.max(DATA.x[j] - EPS, 0);
          assert.ok(Math.abs(a[j] - up) < 1e-7 || Math.abs(a[j] - down) < 1e-7, `pixel ${j} at x ± eps`);
          if (up !== down && DATA.x[j] > 0 && DATA.x[j] < 1) dirs.add(Math.abs(a[j] - up) < 1e-7 ? 1 : -1);
        }
        assert.ok(dirs.size <= 1, `example ${i} channel ${c} column ${col}: one sign`);
        stripes++;
      }
    }
  }
  assert.ok(stripes > 0);
  s.adv.dispose();
});

t(
  'FAB-T on the linear model breaks only breakable examples, and every one whose rank-2 boundary is well inside the ball',
  async () => {
    // Channel means cannot tell the quadrant patterns apart, so the labels are the model's own clean predictions
    // but for every fifth example (misclassified clean, broken from the start). The biases nearly tie every class at
    // the batch's average means, so the examples' distances to the boundaries spread around eps.
    const W = randn(K * C, 9, 3);
    const avg = Array.from(
      { length: C },
      (_, c) => DATA.labels.reduce((s, _, i) => s + channelMeans(DATA.x, i, C, P)[c], 0) / N,
    );
    const B = Float64Array.from(randn(K, 10, 0.01), (v, k) => v - avg.reduce((s, m, c) => s + W[k * C + c] * m, 0));
    const model = new LinearModel(W, B, C);
    const own = Int32Array.from(
      { length: N },
      (_, i) => ranks(model.logits(channelMeans(DATA.x, i, C, P)))[i % 5 ? 0 : 1],
    );
    const labels = tensor(own, [N], { name: 'own_labels' });
    const lo = DATA.x.map((v) => Math.max(0, v - EPS));
    const hi = DATA.x.map((v) => Math.min(1, v + EPS));
    const r = await fabTargeted(model.classify, x, labels, { threat: LINF, steps: 20, targets: 2 });
    assert.equal(await correctOn(model.classify, r.adv, own), r.correct, 'flags match a fresh forward pass');
    let easy = 0;
    for (let i = 0; i < N; i++) {
      const label = own[i];
      const z = model.logits(channelMeans(DATA.x, i, C, P));
      if (i % 5 === 0) {
        assert.not.ok(r.correct[i], `example ${i}: misclassified clean is broken`);
        continue;
      }
      // Exact: some class j beats y at a corner of the box of reachable channel means (the logits are linear).
      const [mlo, mhi] = [channelMeans(lo, i, C, P), channelMeans(hi, i, C, P)];
      const breakable = z.some(
        (_, j) =>
          j !== label &&
          Array.from({ length: C }).reduce<number>((s, _, c) => {
            const dw = model.W[j * C + c] - model.W[label * C + c];
            return s + Math.max(dw * mlo[c], dw * mhi[c]);
          }, model.B[j] - model.B[label]) > 0,
      );
      if (!breakable) assert.ok(r.correct[i], `example ${i} is robust (exactly), FAB-T cannot break it`);
      // The rank-2 boundary: the logit gap over the L1 norm of the gradient of z_t - z_y (every pixel of channel c
      // moves the mean by 1/P), far from the box faces when the radius is a small fraction of eps.
      const tgt = ranks(z)[1];
      const l1 = Array.from({ length: C }).reduce<number>(
        (s, _, c) => s + Math.abs(model.W[tgt * C + c] - model.W[label * C + c]),
        0,
      );
      const dist = (z[label] - z[tgt]) / l1;
      if (dist < EPS / 4) {
        easy++;
        assert.not.ok(r.correct[i], `example ${i}: rank-2 boundary at ${dist}, FAB-T must break it`);
      }
    }
    assert.ok(easy > 0 && count(r.correct) > 0, `a mix: ${easy} easy, ${count(r.correct)} robust`);
    r.adv.dispose();
    labels.dispose();
    model.dispose();
  },
);

t('AutoAttack stages: each runs only on the survivors of the previous, robust accuracy never rises', async () => {
  const seen: number[][] = [];
  /** Records the labels of the examples each stage is given. */
  const spy = (name: string, attack: Stage['attack']): Stage => ({
    name,
    attack: async (c, v, l) => {
      seen.push(Array.from(await l.ints()));
      return attack(c, v, l);
    },
  });
  const stages = [
    spy('apgd-ce', (c, v, l) => apgd(c, v, l, { threat: linfImages(EPS / 4, C, S), steps: 10, seed: 5 })),
    spy('apgd-t', (c, v, l) =>
      apgdTargeted(c, v, l, { threat: linfImages(EPS / 2, C, S), steps: 10, targets: 3, seed: 5 }),
    ),
    spy('fab-t', (c, v, l) => fabTargeted(c, v, l, { threat: LINF, steps: 10, targets: 3 })),
    spy('square', (c, v, l) => square(c, v, l, { threat: LINF, queries: 40, seed: 5 })),
  ];
  const r = await runStages(classifyNet, x, y, stages);
  const clean = await correctOn(classifyNet, x);
  assert.is(r.stages[0].attacked, count(clean), 'the first stage runs on the clean-correct examples');
  assert.equal(
    seen[0],
    Array.from(DATA.labels).filter((_, i) => clean[i]),
    'exactly those, in order',
  );
  for (let k = 0; k < stages.length; k++) {
    const st = r.stages[k];
    assert.is(st.name, stages[k].name);
    if (k > 0)
      assert.is(st.attacked, r.stages[k - 1].robust, `${st.name} runs on the survivors of ${r.stages[k - 1].name}`);
    if (st.attacked) assert.is(seen[k]?.length ?? 0, st.attacked, `${st.name}: the examples it was given`);
    assert.ok(st.robust <= st.attacked, `${st.name}: robust ${st.robust} after, ${st.attacked} before`);
    assert.ok(st.seconds >= 0);
  }
  assert.ok(r.stages[0].robust > r.stages.at(-1)!.robust, `later stages break more: ${r.stages.map((s) => s.robust)}`);
  assert.is(count(r.correct), r.stages.at(-1)!.robust, 'the final flags are the last stage’s survivors');
  assert.equal(
    await correctOn(classifyNet, r.adv),
    r.correct,
    'the adversarial batch fools exactly the broken examples',
  );
  const e = await extent(r.adv);
  assert.ok(e.dist <= EPS + 1e-6 && e.lo >= 0 && e.hi <= 1, `in the ball and [0,1]: ${JSON.stringify(e)}`);
  const sum = r.stages.reduce((p, s) => ({ f: p.f + s.passes.forward, b: p.b + s.passes.backwardInputOnly }), {
    f: 1,
    b: 0,
  });
  assert.equal(r.passes, { forward: sum.f, backwardInputOnly: sum.b }, 'passes: the clean pass plus every stage’s');
  assert.is(r.stages[3].passes.backwardInputOnly, 0, 'Square: no backward pass');
  r.adv.dispose();
});

t('bad arguments are rejected with the attack and the class count', async () => {
  const rejects = async (p: Promise<unknown>, ...patterns: RegExp[]) => {
    const msg = await p.then(
      () => null,
      (e: Error) => e.message,
    );
    assert.ok(msg !== null, `expected an error matching ${patterns.join(', ')}`);
    for (const re of patterns) assert.match(msg!, re);
  };
  await rejects(
    apgdTargeted(classifyNet, x, y, { threat: LINF, targets: 10 }),
    /apgdTargeted/,
    /at least 11 classes/,
    /has 10/,
  );
  await rejects(fabTargeted(classifyNet, x, y, { threat: LINF, targets: 12 }), /fabTargeted/, /at least 13 classes/);
  await rejects(square(classifyNet, x, y, { threat: LINF, pInit: 2 }), /square/, /pInit must be in \(0, 1\]/);
});

t.after(() => {
  net.dispose();
  x.dispose();
  y.dispose();
});

t.run();
