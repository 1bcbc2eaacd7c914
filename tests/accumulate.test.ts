// Gradient accumulation fused into the kernels that store a gradient: where a tensor feeds two paths (a residual
// block), the second backward to reach it adds the tape's running sum in its own store (batch norm's input
// gradient, a convolution's input gradient) instead of a separate add pass. Each case against finite differences
// of a float64 reference, and the fusion itself checked: no add kernel runs in the backward.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { batchNorm, conv2d, rt, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import * as ref from '../reference/f64-ops.js';
import { checkGradients, gpu, KERNEL_VARIANTS, randn, ready, withKernels } from './helpers.js';

const t = suite('accumulate');
t.before(ready);

const [N, C, H, W] = [2, 4, 5, 5];
const CONV: ref.Conv2dShape = { n: N, c: C, h: H, w: W, cout: C, kh: 3, kw: 3, stride: 1, pad: 1 };
const X = randn(N * C * H * W, 1);
const W1 = randn(C * C * 9, 2, 0.4);
const W2 = randn(C * C * 9, 3, 0.4);
const GAMMA = randn(C, 4, 0.3).map((v) => 1 + v);
const BETA = randn(C, 5, 0.3);
// Running statistics of the eval-mode case.
const MEAN = randn(C, 6, 0.2);
const VAR = randn(C, 7, 0.2).map((v) => 1 + Math.abs(v));

/** relu(bn(x)) in float64: training mode with the batch statistics, eval mode with MEAN / VAR. */
function bnReluRef(x: Float64Array, gamma: Float64Array, beta: Float64Array, training: boolean): Float64Array {
  if (training) return ref.relu(ref.batchNormTrain(x, gamma, beta, N, C, H * W).y);
  return x.map((v, i) => {
    const c = Math.floor(i / (H * W)) % C;
    return Math.max(0, (gamma[c] * (v - MEAN[c])) / Math.sqrt(VAR[c] + 1e-5) + beta[c]);
  });
}

function bnRelu(x: Tensor, gamma: Tensor, beta: Tensor, training: boolean): Tensor {
  const state = { runningMean: gpu(MEAN, [C], 'mean'), runningVar: gpu(VAR, [C], 'var') };
  return batchNorm(x, gamma, beta, state, { training, relu: true });
}

/** The binary (add) kernels a gradient computation dispatches. */
function addsIn(f: () => void): number {
  const before = rt().counters().byKernel.binary ?? 0;
  tidy(f);
  return (rt().counters().byKernel.binary ?? 0) - before;
}

for (const training of [true, false]) {
  t(
    `batch norm's input gradient adds the identity path's gradient in its store (${training ? 'training' : 'eval'} mode)`,
    async () => {
      // y = conv(relu(bn(x))) + x: the conv's backward hands x its residual gradient first, batch norm's adds to it.
      const inputs = [
        { data: X, shape: [N, C, H, W], name: 'x' },
        { data: GAMMA, shape: [C], name: 'gamma' },
        { data: BETA, shape: [C], name: 'beta' },
        { data: W1, shape: [C, C, 3, 3], name: 'w' },
      ];
      await checkGradients({
        gpu: ([x, gamma, beta, w]) => conv2d(bnRelu(x, gamma, beta, training), w, { padding: 1, residual: x }),
        cpu: ([x, gamma, beta, w]) => ref.add(ref.conv2d(bnReluRef(x, gamma, beta, training), w, CONV), x),
        inputs,
        seed: 11,
      });
      const [x, gamma, beta, w] = inputs.map((i) => gpu(i.data, i.shape, i.name));
      const adds = addsIn(() =>
        valueAndGrads(() => conv2d(bnRelu(x, gamma, beta, training), w, { padding: 1, residual: x }), [x], { seed: x }),
      );
      assert.is(adds, 0, 'no add pass: batch norm accumulated the gradient of x');
    },
  );
}

for (const variant of KERNEL_VARIANTS) {
  t(`a convolution's input gradient adds the other path's gradient in its store (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      // y = conv(x, w2) + conv(x, w1): x feeds two convolutions; the first one's backward runs second and adds.
      const inputs = [
        { data: X, shape: [N, C, H, W], name: 'x' },
        { data: W1, shape: [C, C, 3, 3], name: 'w1' },
        { data: W2, shape: [C, C, 3, 3], name: 'w2' },
      ];
      await checkGradients({
        gpu: ([x, w1, w2]) => conv2d(x, w2, { padding: 1, residual: conv2d(x, w1, { padding: 1 }) }),
        cpu: ([x, w1, w2]) => ref.add(ref.conv2d(x, w2, CONV), ref.conv2d(x, w1, CONV)),
        inputs,
        seed: 12,
      });
      const [x, w1, w2] = inputs.map((i) => gpu(i.data, i.shape, i.name));
      const adds = addsIn(() =>
        valueAndGrads(() => conv2d(x, w2, { padding: 1, residual: conv2d(x, w1, { padding: 1 }) }), [x, w1], {
          seed: x,
        }),
      );
      assert.is(adds, 0, 'no add pass: the second convolution accumulated the gradient of x');
    }),
  );
}

t("an input that appears twice among an op's inputs is summed by the tape, not fused", async () => {
  // conv(x, w) + x with the residual being the conv's own input: the op gets no running sum for x.
  await checkGradients({
    gpu: ([x, w]) => conv2d(x, w, { padding: 1, residual: x }),
    cpu: ([x, w]) => ref.add(ref.conv2d(x, w, CONV), x),
    inputs: [
      { data: X, shape: [N, C, H, W], name: 'x' },
      { data: W1, shape: [C, C, 3, 3], name: 'w' },
    ],
    seed: 13,
  });
});

t.run();
