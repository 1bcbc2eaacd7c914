// GradAlign's penalty (Andriushchenko and Flammarion 2020) on a tiny model, as the engine's worked example of
// gradients of gradients: lambda·(1 - mean_i cos(g1_i, g2_i)), g1 the input gradient at x (a constant, as the
// authors' `detach`), g2 the input gradient at x + U(-eps, eps) built with createGraph, differentiated in the
// weights. Checked against a float64 host reference that takes both input gradients by finite differences.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  add,
  affine,
  batchNorm,
  conv2d,
  fill,
  globalAvgPool,
  linear,
  matmul,
  mean,
  mul,
  reshape,
  rsqrt,
  softmaxCrossEntropy,
  tensor,
  tidy,
  valueAndGrads,
  zeros,
  type Tensor,
} from '../engine/index.js';
import * as ref from '../reference/f64-ops.js';
import { assertClose, gpu, randn, randu, ready } from './helpers.js';

const t = suite('gradalign');
t.before(ready);

const [N, C, H, W, F, K] = [4, 2, 4, 4, 3, 3];
const EPS = 8 / 255;
const LAMBDA = 0.2;
const LABELS = Int32Array.from([0, 2, 1, 2]);
const conv: ref.Conv2dShape = { n: N, c: C, h: H, w: W, cout: F, kh: 3, kw: 3, stride: 1, pad: 1 };
const D = C * H * W;

/** The tiny model: conv 3x3 → batch norm (training) with ReLU → global average pool → linear → mean CE. */
function model(
  x: Tensor,
  [w, gamma, beta, fcW, fcB]: Tensor[],
  labels: Tensor,
  state: { runningMean: Tensor; runningVar: Tensor },
): Tensor {
  const a = batchNorm(conv2d(x, w, { padding: 1 }), gamma, beta, state, { training: true, relu: true });
  return softmaxCrossEntropy(linear(globalAvgPool(a), fcW, fcB), labels);
}

function preActivations(x: Float64Array, [w, gamma, beta]: Float64Array[]): Float64Array {
  return ref.batchNormTrain(ref.conv2d(x, w, conv), gamma, beta, N, F, H * W).y;
}

function modelRef(x: Float64Array, weights: Float64Array[]): number {
  const [, , , fcW, fcB] = weights;
  const logits = ref.linear(ref.avgPool(ref.relu(preActivations(x, weights)), N * F, H * W), fcW, fcB, N, F, K);
  return ref.mean(ref.crossEntropy(logits, LABELS, N, K));
}

/** Σ over each example's D features: [N, ...] → [N] (a product with ones, so it is differentiable). */
const rowSums = (a: Tensor): Tensor => reshape(matmul(reshape(a, [N, D]), fill([D, 1], 1, 'ones')), [N]);

/** The penalty on the GPU, as a method would write it. */
function penalty(
  x: Tensor,
  noise: Tensor,
  weights: Tensor[],
  labels: Tensor,
  state: { runningMean: Tensor; runningVar: Tensor },
): Tensor {
  const inputGrad = (at: Tensor, createGraph: boolean) =>
    valueAndGrads(() => model(at, weights, labels, state), [at], { createGraph }).grads[0];
  const g1 = inputGrad(x, false);
  const g2 = inputGrad(add(x, noise), true);
  const cos = mul(rowSums(mul(g1, g2)), rsqrt(mul(rowSums(mul(g1, g1)), rowSums(mul(g2, g2))), 1e-30));
  return affine(mean(cos), -LAMBDA, LAMBDA);
}

/** The penalty in float64 with g1 held at `g1` (a constant) and g2 by central differences (h = 1e-5). */
function penaltyRef(x: Float64Array, noise: Float64Array, weights: Float64Array[], g1: Float64Array): number {
  const g2 = inputGradRef(
    x.map((v, i) => v + noise[i]),
    weights,
  );
  let cos = 0;
  for (let i = 0; i < N; i++) {
    let [dot, n1, n2] = [0, 0, 0];
    for (let j = i * D; j < (i + 1) * D; j++) {
      dot += g1[j] * g2[j];
      n1 += g1[j] ** 2;
      n2 += g2[j] ** 2;
    }
    cos += dot / Math.sqrt(n1 * n2) / N;
  }
  return LAMBDA * (1 - cos);
}

function inputGradRef(x: Float64Array, weights: Float64Array[]): Float64Array {
  const h = 1e-5;
  return Float64Array.from(x, (v, i) => {
    x[i] = v + h;
    const up = modelRef(x, weights);
    x[i] = v - h;
    const down = modelRef(x, weights);
    x[i] = v;
    return (up - down) / (2 * h);
  });
}

t(
  "GradAlign's penalty and its weight gradient (through g2's create-graph backward) match float64 finite differences",
  async () => {
    // Seed 17: data whose pre-activations all clear the ReLU kinks by more than 0.015 (asserted below).
    const seed = 17;
    const x = randu(N * D, seed);
    const noise = randu(N * D, seed + 1, -EPS, EPS);
    const shapes = [[F, C, 3, 3], [F], [F], [K, F], [K]];
    const weights = shapes.map((s, i) => {
      const n = s.reduce((a, b) => a * b, 1);
      return i === 1 ? randu(n, 10 * seed + i, 0.5, 1.5) : randn(n, 10 * seed + i, 0.5);
    });
    // Central differences in x (h = 1e-5) and in the weights (1e-4) stay clear of ReLU kinks only if no
    // pre-activation is within ~1e-3 of 0, at x and at x + noise.
    for (const at of [x, x.map((v, i) => v + noise[i])]) {
      assert.ok(
        preActivations(at, weights).every((z) => Math.abs(z) > 0.01),
        'inputs keep the pre-activations away from the ReLU kink',
      );
    }

    const labels = tensor(LABELS, [N], { name: 'labels' });
    const state = { runningMean: zeros([F]), runningVar: zeros([F]) };
    const xt = gpu(x, [N, C, H, W], 'x');
    const nt = gpu(noise, [N, C, H, W], 'noise');
    const wt = weights.map((w, i) => gpu(w, shapes[i], ['w', 'gamma', 'beta', 'fcW', 'fcB'][i]));
    const { value, grads } = tidy(() => valueAndGrads(() => penalty(xt, nt, wt, labels, state), wt));

    const g1 = inputGradRef(Float64Array.from(x), weights);
    const p0 = penaltyRef(x, noise, weights, g1);
    assertClose([await value.item()], [p0], 'penalty', 1e-3, 1e-6);
    // d(penalty)/d(weight) by central differences (h = 1e-4) of the float64 penalty, g1 held fixed, at a few
    // entries of every weight tensor (values 1e-5 to 6e-3). The reference is good to ~5e-8: its input gradients
    // carry ~1e-10 relative error (rounding of the loss over their h = 1e-5), which the weight difference divides
    // by 2h. The fp32 GPU value, a second derivative through normalized gradients, is good to ~1e-4 relative.
    const h = 1e-4;
    for (const [k, w] of weights.entries()) {
      const got = await grads[k].data();
      for (const i of [0, Math.floor(w.length / 2), w.length - 1]) {
        const v = w[i];
        w[i] = v + h;
        const up = penaltyRef(x, noise, weights, g1);
        w[i] = v - h;
        const down = penaltyRef(x, noise, weights, g1);
        w[i] = v;
        assertClose([got[i]], [(up - down) / (2 * h)], `d(penalty)/d(${wt[k].name}[${i}])`, 2e-3, 2e-7);
      }
    }
    for (const v of [value, ...grads, xt, nt, ...wt, labels, state.runningMean, state.runningVar]) v.dispose();
  },
);

t.run();
