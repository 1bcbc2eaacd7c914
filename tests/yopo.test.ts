// YOPO-m-n, checked by value against a re-implementation from the whole network's gradients: the rest's weight
// gradients and the perturbation's steps from full forward/backward passes of the model (dCE/dx through conv1 is
// conv1ᵀ·dCE/dz1, which is the direction every first-layer step takes), the first layer's Hamiltonian gradient
// in float64 on the host. And its inner steps dispatch nothing but the first layer's kernels and elementwise ones.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUniform, rt, softmaxCrossEntropy, tensor, tidy, valueAndGrads } from '../engine/index.js';
import { noPasses } from '../adversarial/method.js';
import { declaredCost, resolveMethod } from '../adversarial/registry.js';
import { Yopo, type YopoOptions } from '../adversarial/methods/yopo.js';
import { Harness } from '../train/harness.js';
import { assertClose, imageThreat, randu, ready, tinyTrainSetup } from './helpers.js';

const t = suite('yopo');
t.before(ready);

const [B, C, H, W] = [4, 3, 8, 8];
const LR = 0.05;
const SEED = 11;
const EPS = 0.05;

const setup = () => tinyTrainSetup();

const batches = [
  { x: randu(B * C * H * W, 1), y: Int32Array.from([1, 3, 5, 7]) },
  { x: randu(B * C * H * W, 2), y: Int32Array.from([0, 9, 8, 1]) },
];

const f32 = Math.fround;
const clip = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** dW[o,c,a,b] = Σ g[n,o,i,j]·x[n,c,i+a-1,j+b-1]: the weight gradient of a 3x3, stride-1, pad-1 convolution. */
function convWeightGrad(g: ArrayLike<number>, x: ArrayLike<number>, cout: number): Float64Array {
  const dw = new Float64Array(cout * C * 9);
  for (let n = 0; n < B; n++)
    for (let o = 0; o < cout; o++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          const go = g[((n * cout + o) * H + i) * W + j];
          for (let c = 0; c < C; c++)
            for (let a = 0; a < 3; a++) {
              const ih = i + a - 1;
              if (ih < 0 || ih >= H) continue;
              for (let b = 0; b < 3; b++) {
                const iw = j + b - 1;
                if (iw >= 0 && iw < W) dw[((o * C + c) * 3 + a) * 3 + b] += go * x[((n * C + c) * H + ih) * W + iw];
              }
            }
        }
  return dw;
}

for (const firstGrad of ['both', 'hamiltonian']) {
  t(`firstGrad ${firstGrad}: weights after 2 minibatches match the whole-network re-implementation`, async () => {
    const o: YopoOptions = { m: 2, n: 2, sigma: 0.02, firstGrad };
    const threat = imageThreat([C, H, W], EPS);
    const a = setup();
    const yopo = new Yopo(o, threat);
    const h = new Harness(a.model, a.opt, SEED, () => LR);
    const b = setup();
    const weights = b.params.map(([, p]) => p.tensor);
    const conv1 = b.params.findIndex(([name]) => name === 'conv1.weight');
    const cout = weights[conv1].shape[0];

    for (const [step, batch] of batches.entries()) {
      const x = tensor(Float32Array.from(batch.x), [B, C, H, W], { name: 'x' });
      const y = tensor(batch.y, [B], { name: 'y' });
      const r = h.run(yopo, x, y);
      r.loss.dispose();
      r.correct.dispose();

      // The reference: eta from the same counter-based draw, then every step on the host in f32 arithmetic.
      const xs = Float32Array.from(batch.x);
      const eta = await tidy(() => randomUniform([B, C, H, W], -EPS, EPS, SEED, step)).data();
      const sums: Float64Array[] = weights.map((w) => new Float64Array(w.size));
      for (let j = 0; j < o.m; j++) {
        const xin = tensor(
          xs.map((v, k) => f32(v + eta[k])),
          [B, C, H, W],
          { name: 'xin' },
        );
        const full = tidy(() => valueAndGrads(() => softmaxCrossEntropy(b.model.forward(xin), y), [xin, ...weights]));
        const dx = await full.grads[0].data();
        const wg = await Promise.all(full.grads.slice(1).map((g) => g.data()));
        wg.forEach((g, i) => {
          if (i !== conv1 || firstGrad === 'both') g.forEach((v, k) => (sums[i][k] += v));
        });
        // dCE/dz1, for the Hamiltonian's weight gradient; checked against the network's own conv1 gradient.
        const z1 = tidy(() => b.model.first(xin));
        const adj = tidy(() => valueAndGrads(() => softmaxCrossEntropy(b.model.rest(z1), y), [z1]));
        const g = await adj.grads[0].data();
        assertClose(
          convWeightGrad(g, await xin.data(), cout),
          wg[conv1],
          `step ${step} pass ${j}: dCE/dz1 gives conv1's CE gradient`,
          1e-4,
          1e-6,
        );
        for (let s = 0; s < o.n; s++) {
          for (let k = 0; k < eta.length; k++) {
            const v = f32(xs[k] + eta[k]);
            // The clamp's gradient passes inside [0, 1]; outside it the step is 0.
            const dir = v >= 0 && v <= 1 ? Math.sign(dx[k]) : 0;
            eta[k] = f32(clip(f32(xs[k] + clip(f32(eta[k] + f32(o.sigma) * dir), -f32(EPS), f32(EPS))), 0, 1) - xs[k]);
          }
        }
        const xp = xs.map((v, k) => clip(f32(v + eta[k]), 0, 1));
        convWeightGrad(g, xp, cout).forEach((v, k) => (sums[conv1][k] += v));
        for (const v of [xin, z1, full.value, adj.value, ...full.grads, ...adj.grads]) v.dispose();
      }
      const grads = sums.map((s, i) => tensor(Float32Array.from(s), weights[i].shape, { name: 'g' }));
      b.opt.step(grads, LR);
      for (const g of grads) g.dispose();

      const wa = await Promise.all(a.params.map(([, p]) => p.tensor.data()));
      const wb = await Promise.all(weights.map((w) => w.data()));
      wa.forEach((w, k) => assertClose(w, wb[k], `weight ${a.params[k][0]} after minibatch ${step + 1}`, 1e-4, 1e-6));
      x.dispose();
      y.dispose();
    }
    const want = declaredCost(resolveMethod({ name: 'yopo', ...o }, threat.spec));
    assert.equal(h.meter.passes, {
      ...noPasses(),
      forward: 4,
      backwardWeights: 4,
      partialForward: 2 * want.partialForward,
      partialBackward: 12,
      sgdSteps: 2,
    });
    for (const s of [a, b]) {
      s.opt.dispose();
      s.model.dispose();
    }
  });
}

t("the inner steps dispatch only the first layer's convolution and elementwise kernels", async () => {
  const x = tensor(Float32Array.from(batches[0].x), [B, C, H, W], { name: 'x' });
  const y = tensor(batches[0].y, [B], { name: 'y' });
  /** Dispatches by family of one YOPO minibatch (m = 1) with n inner steps. */
  const dispatches = async (n: number) => {
    const a = setup();
    const h = new Harness(a.model, a.opt, SEED, () => LR);
    await rt().sync();
    rt().resetCounters();
    const r = h.run(new Yopo({ m: 1, n, sigma: 0.02, firstGrad: 'hamiltonian' }, imageThreat([C, H, W], EPS)), x, y);
    await r.loss.item();
    const c = rt().counters().byFamily;
    r.loss.dispose();
    r.correct.dispose();
    a.opt.dispose();
    a.model.dispose();
    return c;
  };
  const one = await dispatches(1);
  const four = await dispatches(4);
  const extra = Object.fromEntries(
    Object.keys(four)
      .map((k) => [k, (four[k as keyof typeof four] ?? 0) - (one[k as keyof typeof one] ?? 0)])
      .filter(([, v]) => v !== 0),
  );

  // What one first-layer forward and input-gradient pass dispatches, on its own.
  const m = setup();
  const seed = tensor(new Float32Array(B * 16 * H * W).fill(1), [B, 16, H, W], { name: 'seed' });
  await rt().sync();
  rt().resetCounters();
  const { value, grads } = valueAndGrads(() => m.model.first(x), [x], { seed });
  const single = rt().counters().byFamily;
  for (const v of [value, ...grads, seed]) v.dispose();
  m.opt.dispose();
  m.model.dispose();

  assert.equal(
    Object.keys(single).sort(),
    ['conv-forward', 'conv-input-grad', 'elementwise'],
    'a first-layer pass on its own',
  );
  const layer = ['conv-forward', 'conv-input-grad'] as const;
  assert.equal(
    Object.keys(extra).sort(),
    [...layer, 'elementwise'].sort(),
    `3 more inner steps dispatch ${JSON.stringify(extra)}`,
  );
  for (const f of layer)
    assert.is(extra[f], 3 * single[f]!, `3 more inner steps: 3 times the first layer's ${f} kernels`);
  x.dispose();
  y.dispose();
});

t.run();
