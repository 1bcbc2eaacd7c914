// GradAlign and the input-gradient-norm penalty as training methods: one SGD step of each on a WRN-10-1 (8x8
// images) checked by value. The step's weight gradient (recovered from the weights: plain SGD at lr 1) minus the
// first-order engine gradient of the CE term at the reference's own attack point is the penalty's weight gradient,
// checked two ways that share no code with the methods: (1) central differences of the penalty along random
// directions of the classifier's weights, the penalty recomputed from FIRST-order input gradients read back and
// combined on the host in float64 (the classifier sits after the last ReLU, so no ReLU pattern changes and the
// differences are smooth; yet its second derivative runs back through every layer's recorded backward);
// (2) every weight's gradient as J^T u, one engine vector-Jacobian product of the recorded input gradient seeded
// with u = dPenalty/dg computed on the host in float64. Directions over the convolutions' weights are not used:
// at any usable step they cross ReLU kinks, where the input gradient jumps. Memory returns to its level.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  assignPrefix,
  memory,
  randomUniform,
  softmaxCrossEntropy,
  tensor,
  tidy,
  valueAndGrads,
  type Tensor,
} from '../engine/index.js';
import { createMethod, declaredCost, resolveMethod } from '../adversarial/registry.js';
import type { Method } from '../adversarial/method.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { Harness } from '../train/harness.js';
import { assertClose, imageThreat, randn, randu, ready } from './helpers.js';

const t = suite('gradalign-train');
t.before(ready);

const [B, C, H, W] = [4, 3, 8, 8];
const D = C * H * W;
const SEED = 3;
const EPS = 8 / 255;
const LABELS = Int32Array.from([1, 2, 3, 4]);
// Plain SGD at lr 1: the step subtracts exactly the weight gradient the method computed.
const SGD = { momentum: 0, nesterov: false, weightDecay: 0, decay: 'all' as const };

function setup() {
  const model = new WideResNet(parseArch('wrn-10-1', 10), 7);
  return { model, params: model.namedParameters(), weights: model.parameters() };
}

const readAll = async (ts: readonly Tensor[]): Promise<Float64Array[]> =>
  Promise.all(ts.map(async (w) => Float64Array.from(await w.data())));

/** Each example's input gradient of its own CE (the gradient of the summed CE), read back: first order only. */
async function inputGrad(model: WideResNet, at: Float64Array | Float32Array): Promise<Float64Array> {
  const xt = tensor(Float32Array.from(at), [B, C, H, W], { name: 'at' });
  const y = tensor(LABELS, [B], { name: 'y' });
  const seed = tensor(new Float32Array(B).fill(1), [B], { name: 'seed' });
  const { value, grads } = valueAndGrads(() => softmaxCrossEntropy(model.forward(xt), y, { reduction: 'none' }), [xt], {
    seed,
  });
  const g = Float64Array.from(await grads[0].data());
  for (const v of [xt, y, seed, value, ...grads]) v.dispose();
  return g;
}

/** The mean CE at `at` and its weight gradient, first order. */
async function ceGrad(
  model: WideResNet,
  at: Float64Array | Float32Array,
): Promise<{ loss: number; grads: Float64Array[] }> {
  const xt = tensor(Float32Array.from(at), [B, C, H, W], { name: 'at' });
  const y = tensor(LABELS, [B], { name: 'y' });
  const { value, grads } = valueAndGrads(() => softmaxCrossEntropy(model.forward(xt), y), model.parameters());
  const out = { loss: await value.item(), grads: await readAll(grads) };
  for (const v of [xt, y, value, ...grads]) v.dispose();
  return out;
}

const rowDot = (a: Float64Array, b: Float64Array, i: number): number => {
  let s = 0;
  for (let j = i * D; j < (i + 1) * D; j++) s += a[j] * b[j];
  return s;
};

/** GradAlign's lambda·(1 − mean cos) in float64, leaving out examples with a zero gradient (the authors' code). */
function alignPenalty(g1: Float64Array, g2: Float64Array, lambda: number): number {
  let [sum, kept] = [0, 0];
  for (let i = 0; i < B; i++) {
    const [n1, n2] = [rowDot(g1, g1, i), rowDot(g2, g2, i)];
    if (n1 === 0 || n2 === 0) continue;
    sum += rowDot(g1, g2, i) / Math.sqrt(n1 * n2);
    kept++;
  }
  return lambda * (1 - (kept ? sum / kept : 0));
}

/** One measured step of `method` on a fresh model: the weights before and the gradient the SGD step applied. */
async function runStep(method: Method, x: Float64Array) {
  const a = setup();
  const opt = new Sgd(a.params, SGD);
  const h = new Harness(a.model, opt, SEED, () => 1);
  const xt = tensor(Float32Array.from(x), [B, C, H, W], { name: 'x' });
  const y = tensor(LABELS, [B], { name: 'y' });
  const before = await readAll(a.weights);
  const step = async () => {
    const r = h.run(method, xt, y);
    const loss = await r.loss.item();
    r.loss.dispose();
    r.correct.dispose();
    return loss;
  };
  const m0 = memory();
  const loss = await step();
  const m1 = memory();
  assert.is(m1.liveTensors, m0.liveTensors, 'no tensor outlives the step');
  assert.is(m1.bytesInUse, m0.bytesInUse, 'GPU memory in use returns to its level after the step');
  const after = await readAll(a.weights);
  const applied = before.map((w, k) => w.map((v, i) => v - after[k][i]));
  const passes = { ...h.meter.passes };
  for (const v of [xt, y]) v.dispose();
  opt.dispose();
  a.model.dispose();
  return { loss, before, applied, passes };
}

/**
 * The penalty's weight gradient along random classifier directions: P(w + hv) − P(w − hv) against
 * <penaltyGrad, w+ − w−>, with w± the float32 weights actually written (h = 0.01 on unit directions: ~1e-4 relative
 * curvature error here, against ~2e-3 at h = 0.05).
 */
async function checkAlongClassifier(
  ref: ReturnType<typeof setup>,
  before: Float64Array[],
  penaltyGrad: Float64Array[],
  penalty: () => Promise<number>,
  what: string,
) {
  const fc = ref.params.map(([n], k) => (n.startsWith('fc.') ? k : -1)).filter((k) => k >= 0);
  assert.is(fc.length, 2, 'the classifier has a weight and a bias');
  const write = (w: Float64Array[]) =>
    ref.weights.forEach((p, k) => tidy(() => assignPrefix(p, tensor(Float32Array.from(w[k]), p.shape))));
  const f32 = (w: Float64Array[]) => w.map((a) => Float64Array.from(Float32Array.from(a)));
  for (const s of [11, 12]) {
    const dir = before.map((w, k) => (fc.includes(k) ? randn(w.length, 100 * s + k) : new Float64Array(w.length)));
    const norm = Math.sqrt(dir.reduce((n, d) => n + d.reduce((a, v) => a + v * v, 0), 0));
    const up = f32(before.map((w, k) => w.map((v, i) => v + (0.01 / norm) * dir[k][i])));
    const down = f32(before.map((w, k) => w.map((v, i) => v - (0.01 / norm) * dir[k][i])));
    write(up);
    const pUp = await penalty();
    write(down);
    const pDown = await penalty();
    write(before);
    let predicted = 0;
    for (const k of fc)
      for (let i = 0; i < before[k].length; i++) predicted += penaltyGrad[k][i] * (up[k][i] - down[k][i]);
    assertClose([predicted], [pUp - pDown], `${what}: penalty difference along classifier direction ${s}`, 1e-2, 1e-8);
  }
}

/** J^T u for the input gradient at `at` (of the summed CE): one engine double backward seeded with u. */
async function inputGradVjp(
  model: WideResNet,
  at: Float32Array | Float64Array,
  u: Float64Array,
): Promise<Float64Array[]> {
  const xt = tensor(Float32Array.from(at), [B, C, H, W], { name: 'at' });
  const y = tensor(LABELS, [B], { name: 'y' });
  const ones = tensor(new Float32Array(B).fill(1), [B], { name: 'ones' });
  const seed = tensor(Float32Array.from(u), [B, C, H, W], { name: 'u' });
  const { value, grads } = valueAndGrads(
    () =>
      valueAndGrads(() => softmaxCrossEntropy(model.forward(xt), y, { reduction: 'none' }), [xt], {
        seed: ones,
        createGraph: true,
      }).grads[0],
    model.parameters(),
    { seed },
  );
  const out = await readAll(grads);
  for (const v of [xt, y, ones, seed, value, ...grads]) v.dispose();
  return out;
}

/** ‖a − b‖ / ‖b‖ per tensor, at most `tol`. */
function assertNear(a: Float64Array[], b: Float64Array[], names: string[], what: string, tol: number): void {
  b.forEach((ref, k) => {
    let [d, n] = [0, 0];
    for (let i = 0; i < ref.length; i++) [d, n] = [d + (a[k][i] - ref[i]) ** 2, n + ref[i] ** 2];
    assert.ok(
      n > 0 && Math.sqrt(d / n) <= tol,
      `${what}: ${names[k]} relative error ${Math.sqrt(d / n)} (tolerance ${tol}; norm ${Math.sqrt(n)})`,
    );
  });
}

/** The reference of one method's step: where its CE term is taken, and its penalty as a function of an input
 * gradient (at `at`, read back) with that function's derivative, both in float64 on the host. */
interface Reference {
  ceAt: Float64Array;
  at: Float32Array | Float64Array;
  penalty(g: Float64Array): number;
  dPenalty(g: Float64Array): Float64Array;
}

async function checkStep(
  config: { name: string; lambda: number },
  x: Float64Array,
  reference: (model: WideResNet) => Promise<Reference>,
) {
  const r = resolveMethod(config);
  const res = await runStep(
    createMethod(r, {
      batchShape: [B, C, H, W],
      threat: imageThreat([C, H, W]),
      seed: SEED,
      trainSize: B,
      classes: 10,
    }),
    x,
  );
  assert.equal(res.passes, declaredCost(r), 'passes as declared');
  const ref = setup();
  const c = await reference(ref.model);
  const ce = await ceGrad(ref.model, c.ceAt);
  const penalty = async () => c.penalty(await inputGrad(ref.model, c.at));
  const p0 = await penalty();
  assert.ok(p0 > 1e-3 * ce.loss, `a penalty that matters (${p0})`);
  assertClose([res.loss], [ce.loss + p0], `${r.config.name}: loss = CE + penalty`, 1e-4, 1e-6);
  const penaltyGrad = res.applied.map((g, k) => g.map((v, i) => v - ce.grads[k][i]));
  await checkAlongClassifier(ref, res.before, penaltyGrad, penalty, config.name);
  const u = c.dPenalty(await inputGrad(ref.model, c.at));
  assertNear(
    penaltyGrad,
    await inputGradVjp(ref.model, c.at, u),
    ref.params.map(([n]) => n),
    `${config.name} penalty gradient`,
    2e-3,
  );
  ref.model.dispose();
}

t(
  'gradalign: one step by value (FGSM from zero, CE at x_adv + lambda·(1 − cos(g1, g2)) through g2), memory back to its level',
  async () => {
    const lambda = 0.5;
    const x = randu(B * D, 5);
    await checkStep({ name: 'gradalign', lambda }, x, async (model) => {
      // g1 at x, the FGSM point on the host, the method's counter-based noise drawn again.
      const g1 = await inputGrad(model, x);
      const noiseT = randomUniform([B, C, H, W], -EPS, EPS, SEED, 0, 'n');
      const noise = await noiseT.data();
      noiseT.dispose();
      return {
        ceAt: x.map((v, i) =>
          Math.min(1, Math.max(0, v + Math.min(EPS, Math.max(-EPS, 1.25 * EPS * Math.sign(g1[i]))))),
        ),
        at: Float32Array.from(x, (v, i) => Math.fround(v) + noise[i]),
        penalty: (g2) => alignPenalty(g1, g2, lambda),
        // −(lambda / B) · (g1_i / (‖g1_i‖‖g2_i‖) − cos_i · g2_i / ‖g2_i‖²): every example is kept here.
        dPenalty: (g2) => {
          const u = new Float64Array(B * D);
          for (let i = 0; i < B; i++) {
            const [n1, n2] = [Math.sqrt(rowDot(g1, g1, i)), Math.sqrt(rowDot(g2, g2, i))];
            assert.ok(n1 > 0 && n2 > 0, 'no zero input gradient');
            const cos = rowDot(g1, g2, i) / (n1 * n2);
            for (let j = i * D; j < (i + 1) * D; j++)
              u[j] = -(lambda / B) * (g1[j] / (n1 * n2) - (cos * g2[j]) / (n2 * n2));
          }
          return u;
        },
      };
    });
  },
);

t(
  'gradnorm: one step by value (CE + lambda·mean ‖∇x CE_i‖² on the clean batch, through the input gradient), memory back to its level',
  async () => {
    const lambda = 2;
    const x = randu(B * D, 6);
    await checkStep({ name: 'gradnorm', lambda }, x, async () => ({
      ceAt: x,
      at: x,
      penalty: (g) => (lambda / B) * g.reduce((s, v) => s + v * v, 0),
      dPenalty: (g) => g.map((v) => ((2 * lambda) / B) * v),
    }));
  },
);

t('with lambda 0 neither runs a second-order pass (declared and measured)', async () => {
  for (const name of ['gradalign', 'gradnorm']) {
    const r = resolveMethod({ name, lambda: 0 });
    const res = await runStep(
      createMethod(r, {
        batchShape: [B, C, H, W],
        threat: imageThreat([C, H, W]),
        seed: SEED,
        trainSize: B,
        classes: 10,
      }),
      randu(B * D, 8),
    );
    assert.equal(res.passes, declaredCost(r), `${name}: passes as declared`);
    assert.is(res.passes.backwardSecondOrder, 0, `${name}: no second-order pass`);
  }
});

t.run();
