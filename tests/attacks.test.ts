// L-inf attacks on two tiny models over 8x8 three-channel images (tests/attack-fixtures.ts): a linear model on
// channel means, whose input gradient and exact robustness (a vertex search over the box of reachable channel
// means) are computed in float64 here, and a conv-BN-ReLU-pool-linear net trained in the test, attacked in eval mode.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  globalAvgPool,
  linear,
  memory,
  mul,
  rt,
  softmaxCrossEntropy,
  sub,
  tensor,
  tidy,
  valueAndGrads,
  type Tensor,
} from '../engine/index.js';
import {
  channelMeans,
  correctOn as fixtureCorrectOn,
  extent as fixtureExtent,
  hostSource,
  linfImages,
  LinearModel,
  makeData,
  trainedBatch,
  TinyNet,
} from './attack-fixtures.js';
import {
  apgdCe,
  apgdCheckpoints,
  fgsm,
  pgd,
  pgdPerturb,
  type AttackResult,
  type Classifier,
} from '../adversarial/attacks/index.js';
import { resolveAttack } from '../adversarial/attack-registry.js';
import { evaluateRobust } from '../adversarial/evaluate.js';
import { ThreatModel } from '../adversarial/threat.js';
import * as ref from '../reference/f64-ops.js';
import { assertThrows, randn, rng } from './helpers.js';

const t = suite('attacks');

const [N, C, S, K] = [32, 3, 8, 3];
const P = S * S;
const EPS = 8 / 255;
const STEP = 2 / 255;
const LINF = linfImages(EPS, C, S);

const DATA = makeData({ n: N, c: C, s: S, k: K }, 1);

/** logits = W·(channel means of x) + b. */
const linearModel = (W: Float64Array, B: Float64Array): LinearModel => new LinearModel(W, B, C);

let x: Tensor, y: Tensor, net: TinyNet, classifyNet: Classifier;

t.before(async () => {
  ({ x, y, net, classify: classifyNet } = await trainedBatch({ n: N, c: C, s: S, k: K }, DATA, { seed: 3, steps: 60 }));
  LINF.upload();
});

const count = (flags: readonly boolean[]): number => flags.filter(Boolean).length;
const correctOn = (classify: Classifier, v: Tensor, labels: ArrayLike<number> = DATA.labels) =>
  fixtureCorrectOn(classify, v, labels);
const extent = (adv: Tensor) => fixtureExtent(adv, DATA.x);

/** Channel means of example i of NCHW data, in float64. */
const means = (data: ArrayLike<number>, i: number): number[] => channelMeans(data, i, C, P);

const margin = (z: number[], label: number): number => Math.max(...z.filter((_, k) => k !== label)) - z[label];

t('FGSM is x + eps·sign(∇x loss) clipped to [0,1], for CE and CW, against float64 gradients', async () => {
  const model = linearModel(randn(K * C, 5), randn(K, 6, 0.1));
  for (const loss of ['ce', 'cw'] as const) {
    // d loss_i / d x_{i,c,h,w} = (1/P)·Σ_k dloss/dz_k · W_kc: the same sign for every pixel of a channel.
    const expected = new Float64Array(DATA.x.length);
    const expectCorrect: boolean[] = [];
    let weakest = Infinity;
    for (let i = 0; i < N; i++) {
      const label = DATA.labels[i];
      const z = model.logits(means(DATA.x, i));
      let dz: number[];
      if (loss === 'ce') {
        dz = Array.from(ref.crossEntropyMeanBackward(Float64Array.from(z), [label], 1, K));
      } else {
        const runnerUp = z.reduce((best, v, k) => (k !== label && (best < 0 || v > z[best]) ? k : best), -1);
        dz = z.map((_, k) => (k === runnerUp ? 1 : 0) - (k === label ? 1 : 0));
      }
      for (let c = 0; c < C; c++) {
        const g = dz.reduce((s, d, k) => s + d * model.W[k * C + c], 0);
        weakest = Math.min(weakest, Math.abs(g));
        for (let p = 0; p < P; p++) {
          const j = (i * C + c) * P + p;
          expected[j] = Math.min(1, Math.max(0, DATA.x[j] + EPS * Math.sign(g)));
        }
      }
      expectCorrect.push(margin(model.logits(means(expected, i)), label) < 0);
    }
    assert.ok(weakest > 1e-3, `${loss}: every gradient sign is unambiguous (smallest |g| ${weakest})`);
    const r =
      loss === 'ce'
        ? await fgsm(model.classify, x, y, { threat: LINF })
        : await pgd(model.classify, x, y, { threat: LINF, stepSize: EPS, steps: 1, randomStart: false, loss: 'cw' });
    const got = await r.adv.data();
    let worst = 0;
    for (let j = 0; j < got.length; j++) worst = Math.max(worst, Math.abs(got[j] - expected[j]));
    assert.ok(worst < 1e-6, `${loss}: adversarial batch off the float64 reference by ${worst}`);
    assert.equal(r.correct, expectCorrect, `${loss}: still-correct flags`);
    assert.ok(count(r.correct) < N - 10, `${loss}: the step fools many examples (${count(r.correct)} of ${N} correct)`);
    assert.equal(r.passes, { forward: 2, backwardInputOnly: 1 }, `${loss}: one attack pass and one check`);
    r.adv.dispose();
  }
  model.dispose();
});

const ATTACKS: [string, (c: Classifier) => Promise<AttackResult>][] = [
  ['fgsm', (c) => fgsm(c, x, y, { threat: LINF })],
  ['pgd-10 x2', (c) => pgd(c, x, y, { threat: LINF, stepSize: STEP, steps: 10, restarts: 2, seed: 1 })],
  ['cw-10', (c) => pgd(c, x, y, { threat: LINF, stepSize: STEP, steps: 10, loss: 'cw', seed: 2 })],
  ['apgd-ce-30 x2', (c) => apgdCe(c, x, y, { threat: LINF, steps: 30, restarts: 2, seed: 3 })],
];

t('every attack stays in the eps ball and [0,1], uses the budget, flags what fools, and lowers accuracy', async () => {
  const clean = count(await correctOn(classifyNet, x));
  assert.ok(clean >= 30, `the trained net fits the batch: ${clean} of ${N}`);
  for (const [name, attack] of ATTACKS) {
    const r = await attack(classifyNet);
    const e = await extent(r.adv);
    assert.ok(e.dist <= EPS + 1e-6, `${name}: max |adv - x| = ${e.dist} > eps`);
    assert.ok(e.dist >= EPS - 1e-6, `${name}: reaches the ball's boundary (max |adv - x| = ${e.dist})`);
    assert.ok(e.lo >= 0 && e.hi <= 1, `${name}: adv in [${e.lo}, ${e.hi}]`);
    assert.equal(await correctOn(classifyNet, r.adv), r.correct, `${name}: flags match a fresh forward pass on adv`);
    assert.ok(count(r.correct) < clean - 5, `${name}: ${count(r.correct)} correct vs ${clean} clean`);
    r.adv.dispose();
  }
});

t('more PGD steps from the same random start are at least as strong; a seed reproduces a run', async () => {
  const run = (steps: number, seed = 4) => pgd(classifyNet, x, y, { threat: LINF, stepSize: STEP, steps, seed });
  const loss = async (adv: Tensor) => {
    const l = tidy(() => softmaxCrossEntropy(classifyNet(adv), y));
    const v = await l.item();
    l.dispose();
    return v;
  };
  const [few, many, again, other] = [await run(2), await run(20), await run(20), await run(20, 5)];
  assert.ok(
    count(many.correct) < count(few.correct),
    `PGD-20 ${count(many.correct)} correct vs PGD-2 ${count(few.correct)}`,
  );
  const [lFew, lMany] = [await loss(few.adv), await loss(many.adv)];
  assert.ok(lMany > lFew, `mean loss at PGD-20 ${lMany} vs PGD-2 ${lFew}`);
  assert.equal(Array.from(await again.adv.data()), Array.from(await many.adv.data()), 'same seed, same batch');
  assert.not.equal(
    Array.from(await other.adv.data()),
    Array.from(await many.adv.data()),
    'another seed, another start',
  );
  for (const r of [few, many, again, other]) r.adv.dispose();
});

t("pgdPerturb, for training loops, is one synchronous PGD run in the caller's scope", async () => {
  const opts = { threat: LINF, stepSize: STEP, steps: 3, seed: 6, stream: 2 };
  const full = await pgd(classifyNet, x, y, opts);
  const live = memory().liveTensors;
  const passes = { forward: 0, backwardInputOnly: 0, backwardWeights: 0, sgdSteps: 0 };
  const adv = tidy(() => pgdPerturb(classifyNet, x, y, opts, passes));
  assert.is(memory().liveTensors, live + 1, 'only the result survives the scope');
  assert.equal(
    passes,
    { forward: 3, backwardInputOnly: 3, backwardWeights: 0, sgdSteps: 0 },
    'counted into a training PassCounts',
  );
  assert.equal(Array.from(await adv.data()), Array.from(await full.adv.data()), 'the batch pgd returns');
  adv.dispose();
  full.adv.dispose();
});

t(
  'PGD with onlyCorrect steps only the examples still classified right, against a float64 re-implementation',
  async () => {
    // Wong et al.'s MNIST PGD: at each step an example the model misclassifies keeps its point. A model that reads
    // each class's channel (DATA's signal), so that steps of eps/2 fool examples at different steps.
    const noise = randn(K * C, 5, 0.5);
    const model = linearModel(
      Float64Array.from(noise, (v, j) => v + (Math.floor(j / C) === j % C ? 20 : 0)),
      new Float64Array(K),
    );
    const [steps, size] = [4, EPS / 2];
    const cur = Float64Array.from(DATA.x);
    const stoppedAt: number[] = [];
    let closest = Infinity;
    for (let i = 0; i < N; i++) {
      const label = DATA.labels[i];
      let s = 0;
      for (; s < steps; s++) {
        const z = model.logits(means(cur, i));
        closest = Math.min(closest, Math.abs(margin(z, label)));
        if (margin(z, label) > 0) break;
        const dz = ref.crossEntropyMeanBackward(Float64Array.from(z), [label], 1, K);
        for (let c = 0; c < C; c++) {
          const g = dz.reduce((acc, d, k) => acc + d * model.W[k * C + c], 0);
          for (let q = 0; q < P; q++) {
            const j = (i * C + c) * P + q;
            const d = Math.min(EPS, Math.max(-EPS, cur[j] - DATA.x[j] + size * Math.sign(g)));
            cur[j] = Math.min(1, Math.max(0, DATA.x[j] + d));
          }
        }
      }
      stoppedAt.push(s);
    }
    assert.ok(closest > 1e-4, `no example sits on the decision boundary (smallest |margin| ${closest})`);
    const early = stoppedAt.filter((s) => s > 0 && s < steps).length;
    assert.ok(early > 0 && stoppedAt.some((s) => s === steps), `some stop midway (${early}), some take every step`);
    const run = (onlyCorrect: boolean) =>
      pgdPerturb(
        model.classify,
        x,
        y,
        { threat: LINF, stepSize: size, steps, randomStart: false, onlyCorrect },
        { forward: 0, backwardInputOnly: 0 },
      );
    const [gated, plain] = [run(true), run(false)];
    const got = await gated.data();
    let worst = 0;
    for (let j = 0; j < got.length; j++) worst = Math.max(worst, Math.abs(got[j] - cur[j]));
    assert.ok(worst < 1e-5, `gated PGD off the float64 reference by ${worst}`);
    const other = await plain.data();
    assert.ok(
      other.some((v, j) => Math.abs(v - cur[j]) > EPS / 4),
      'without onlyCorrect the stopped examples move on',
    );
    for (const v of [gated, plain, model]) v.dispose();
  },
);

t('restarts keep the per-example worst case', async () => {
  // A weak attack (one short step from a random start) whose restarts disagree.
  const opts = { threat: LINF, stepSize: EPS / 4, steps: 1, seed: 7 };
  const combined = await pgd(classifyNet, x, y, { ...opts, restarts: 3, stream: 10 });
  const singles = [];
  for (let r = 0; r < 3; r++) singles.push(await pgd(classifyNet, x, y, { ...opts, stream: 10 + r }));
  const flags = singles.map((s) => s.correct);
  assert.ok(
    flags[0].some((c, i) => flags.some((f) => f[i] !== c)),
    'some example is broken by one restart only',
  );
  assert.equal(
    combined.correct,
    flags[0].map((_, i) => flags.every((f) => f[i])),
    'broken by any restart = broken',
  );
  assert.ok(count(combined.correct) > 0, 'not every example broken (no early stop)');
  const rows = await Promise.all(singles.map((s) => s.adv.data()));
  const got = await combined.adv.data();
  const row = C * P;
  for (let i = 0; i < N; i++) {
    const from = combined.correct[i] ? 2 : flags.findIndex((f) => !f[i]);
    const want = rows[from].subarray(i * row, (i + 1) * row);
    assert.equal(
      Array.from(got.subarray(i * row, (i + 1) * row)),
      Array.from(want),
      `example ${i}: the point of restart ${from}`,
    );
  }
  assert.equal(combined.passes, { forward: 6, backwardInputOnly: 3 });
  for (const r of [combined, ...singles]) r.adv.dispose();
});

t('attack steps dispatch no weight-gradient kernel, and the pass counts match the dispatches', async () => {
  rt().resetCounters();
  tidy(() => valueAndGrads(() => softmaxCrossEntropy(classifyNet(x), y), net.parameters()));
  const control = rt().counters().byFamily;
  assert.ok(
    (control['conv-weight-grad'] ?? 0) > 0 && (control['weight-grad'] ?? 0) > 0,
    `a weight backward is counted: ${JSON.stringify(control)}`,
  );
  for (const [name, attack] of ATTACKS) {
    rt().resetCounters();
    const r = await attack(classifyNet);
    const { byFamily, byKernel } = rt().counters();
    assert.is(byFamily['conv-weight-grad'] ?? 0, 0, `${name}: ${JSON.stringify(byFamily)}`);
    assert.is(byFamily['weight-grad'] ?? 0, 0, `${name}: ${JSON.stringify(byFamily)}`);
    // One global average pool per forward pass of this net, one loss backward per backward pass.
    assert.is(byKernel.avgpool, r.passes.forward, `${name}: forward passes`);
    assert.is(byKernel.loss_backward, r.passes.backwardInputOnly, `${name}: backward passes`);
    r.adv.dispose();
  }
});

t('an attack leaves no tensor behind but its result', async () => {
  for (const [name, attack] of ATTACKS) {
    const live = memory().liveTensors;
    const r = await attack(classifyNet);
    assert.is(memory().liveTensors, live + 1, `${name}: the adversarial batch only`);
    r.adv.dispose();
  }
});

t('batch-norm running statistics do not change under attack in eval mode', async () => {
  const stats = () =>
    Promise.all([net.bn.runningMean.data(), net.bn.runningVar.data()]).then((s) => s.map((a) => Array.from(a)));
  const before = await stats();
  for (const [, attack] of ATTACKS) (await attack(classifyNet)).adv.dispose();
  assert.equal(await stats(), before);
  // The control: a training-mode forward pass does move them.
  const probe = new TinyNet(C, K, 3);
  const mean = Array.from(await probe.bn.runningMean.data());
  tidy(() => probe.forward(x));
  assert.not.equal(Array.from(await probe.bn.runningMean.data()), mean, 'training mode updates the statistics');
  probe.dispose();
});

t('APGD-CE follows the paper’s checkpoints and is at least as strong as PGD-10', async () => {
  assert.equal(apgdCheckpoints(100), [22, 41, 57, 70, 80, 87, 93, 99]);
  assert.equal(apgdCheckpoints(10), [3, 5, 6, 7, 8, 9, 10]);
  assert.equal(apgdCheckpoints(0), []);
  const p = await pgd(classifyNet, x, y, { threat: LINF, stepSize: STEP, steps: 10, seed: 8 });
  const a = await apgdCe(classifyNet, x, y, { threat: LINF, seed: 8 });
  assert.ok(count(a.correct) <= count(p.correct), `APGD-CE ${count(a.correct)} correct vs PGD-10 ${count(p.correct)}`);
  assert.equal(a.passes, { forward: 101, backwardInputOnly: 101 }, 'the start and 100 iterations');
  assert.ok((await extent(a.adv)).dist <= EPS + 1e-6);
  a.adv.dispose();
  p.adv.dispose();
});

t(
  'APGD halves its step where the loss stalls: it homes in on an interior maximum that fixed-step PGD circles',
  async () => {
    // Two classes, label 0: z_0 = 0, z_1 = -1 - 1000·mean((v - target)²), so the loss rises towards a target inside
    // the ball and no example is ever fooled (z_1 < z_0 everywhere).
    const r = rng(11);
    const target = DATA.x.map((v) => Math.min(1, Math.max(0, v + EPS * (r() - 0.5))));
    const tgt = tensor(target, [N, C, S, S], { name: 'target' });
    const w = tensor(
      Float32Array.from({ length: 2 * C }, (_, j) => (j < C ? 0 : -1000 / C)),
      [2, C],
      { name: 'Wq' },
    );
    const b = tensor(new Float32Array([0, -1]), [2], { name: 'bq' });
    const zero = tensor(new Int32Array(N), [N], { name: 'zero_labels' });
    const classify: Classifier = (v) => {
      const d = sub(v, tgt);
      return linear(globalAvgPool(mul(d, d)), w, b);
    };
    const distance = async (adv: Tensor) => {
      const a = await adv.data();
      return a.reduce((m, v, j) => Math.max(m, Math.abs(v - target[j])), 0);
    };
    const p = await pgd(classify, x, zero, { threat: LINF, stepSize: STEP, steps: 100, seed: 12 });
    const a = await apgdCe(classify, x, zero, { threat: LINF, steps: 100, seed: 12 });
    assert.ok(p.correct.every(Boolean) && a.correct.every(Boolean), 'nothing is fooled');
    const [dp, da] = [await distance(p.adv), await distance(a.adv)];
    assert.ok(dp > STEP / 4, `PGD keeps circling at its step size: ${dp}`);
    assert.ok(da < dp / 10, `APGD ends within ${da} of the maximum, PGD within ${dp}`);
    for (const v of [p.adv, a.adv, tgt, w, b, zero]) v.dispose();
  },
);

t('APGD-CE on the linear model ends at the box corner that maximizes the loss, momentum steps included', async () => {
  // With W = 10·I the cross-entropy of label l falls with the mean of channel l and rises with the others', so its
  // maximum over the ball is the corner: channel l down by eps, the others up, clipped to [0, 1]. Against the
  // labels l = y + 1 every iterate is misclassified, so the result is the last iterate itself, where momentum
  // must have kept it (x_{k+1} = P(x_k + α(z - x_k) + (1 - α)(x_k - x_{k-1})) stays at a corner it has reached).
  const model = linearModel(Float64Array.from([10, 0, 0, 0, 10, 0, 0, 0, 10]), new Float64Array(K));
  const shifted = DATA.labels.map((l) => (l + 1) % K);
  const wrong = tensor(shifted, [N], { name: 'shifted_labels' });
  for (const steps of [2, 10]) {
    const a = await apgdCe(model.classify, x, wrong, { threat: LINF, steps, seed: 13 });
    assert.ok(
      a.correct.every((c) => !c),
      'every example misclassified',
    );
    const got = await a.adv.data();
    let worst = 0;
    for (let j = 0; j < got.length; j++) {
      const [i, c] = [Math.floor(j / (C * P)), Math.floor(j / P) % C];
      const corner = Math.min(1, Math.max(0, DATA.x[j] + (c === shifted[i] ? -EPS : EPS)));
      worst = Math.max(worst, Math.abs(got[j] - corner));
    }
    assert.ok(worst < 1e-6, `${steps} steps: off the corner by ${worst}`);
    a.adv.dispose();
  }
  wrong.dispose();
  model.dispose();
});

t('evaluateRobust: clean and every attack; on the linear model it finds exactly the breakable examples', async () => {
  const model = linearModel(Float64Array.from([10, 0, 0, 0, 10, 0, 0, 0, 10]), new Float64Array(K));
  // The logits depend on the channel means only, and each mean ranges over [lo_c, hi_c] independently; the margin
  // is convex in the means, so its maximum over the ball is at one of the 2^C corners.
  const breakable: boolean[] = [];
  const cleanRef: boolean[] = [];
  const lo = DATA.x.map((v) => Math.max(0, v - EPS));
  const hi = DATA.x.map((v) => Math.min(1, v + EPS));
  let closest = Infinity;
  for (let i = 0; i < N; i++) {
    const label = DATA.labels[i];
    const [mlo, mhi] = [means(lo, i), means(hi, i)];
    let best = -Infinity;
    for (let corner = 0; corner < 1 << C; corner++) {
      best = Math.max(best, margin(model.logits(mlo.map((v, c) => ((corner >> c) & 1 ? mhi[c] : v))), label));
    }
    const clean = margin(model.logits(means(DATA.x, i)), label);
    closest = Math.min(closest, Math.abs(best), Math.abs(clean));
    breakable.push(best > 0);
    cleanRef.push(clean < 0);
  }
  assert.ok(closest > 1e-3, `no example sits on a decision boundary (closest margin ${closest})`);
  // The same attacks through the registry (seed 9, stream 0 for the one batch).
  const report = await evaluateRobust(
    model.classify,
    hostSource(DATA.x, [N, C, S, S], DATA.labels),
    [
      resolveAttack({ name: 'pgd', stepSize: STEP, steps: 20, loss: 'cw' }),
      resolveAttack({ name: 'apgd-ce', apgdSteps: 50 }),
    ],
    { threat: LINF, classes: K, batch: N, seed: 9 },
  );
  const bools = (a: Uint8Array) => Array.from(a, Boolean);
  const res = {
    clean: bools(report.correct.clean),
    perAttack: report.correct.perAttack.map(bools),
    robust: bools(report.correct.robust),
    passes: { forward: report.passes.forward, backwardInputOnly: report.passes.backwardInputOnly },
  };
  assert.equal(res.clean, cleanRef, 'clean flags');
  assert.equal(
    res.robust,
    res.clean.map((c, i) => c && res.perAttack.every((a) => a[i])),
    'robust = clean and every attack',
  );
  const exact = cleanRef.map((c, i) => c && !breakable[i]);
  assert.ok(
    count(exact) > 0 && count(exact) < count(cleanRef),
    `a mix of robust and breakable examples: ${count(exact)}`,
  );
  assert.equal(res.robust, exact, 'exactly the examples no point of the ball fools');
  assert.equal(res.passes, { forward: 1 + 21 + 51, backwardInputOnly: 20 + 51 });
  model.dispose();
});

t('bad arguments are rejected with the attack and the shapes', async () => {
  const rejects = async (p: Promise<unknown>, ...patterns: RegExp[]) => {
    const msg = await p.then(
      () => null,
      (e: Error) => e.message,
    );
    assert.ok(msg !== null, `expected an error matching ${patterns.join(', ')}`);
    for (const re of patterns) assert.match(msg!, re);
  };
  const short = tensor(new Int32Array(N - 1), [N - 1], { name: 'short' });
  await rejects(
    pgd(classifyNet, x, short, { threat: LINF, stepSize: STEP, steps: 1 }),
    /pgd/,
    /\[32\]/,
    /'short' \[31\] i32/,
  );
  // eps is the threat model's, refused when it is built; an attack refuses a threat model over other samples.
  assertThrows(() => ThreatModel.image({ norm: 'linf', eps: -1 }, [C, S, S]), /eps must be in \[0,1\]/, /got -1/);
  await rejects(
    apgdCe(classifyNet, x, y, { threat: linfImages(EPS, C, S + 1) }),
    /apgdCe/,
    /samples of 243 elements/,
    /\[32,3,8,8\]/,
  );
  await rejects(
    pgd(classifyNet, x, y, { threat: LINF, stepSize: STEP, steps: 1, restarts: 0 }),
    /pgd/,
    /restarts must be an integer >= 1/,
  );
  short.dispose();
});

t.after(() => {
  net.dispose();
  x.dispose();
  y.dispose();
});

t.run();
