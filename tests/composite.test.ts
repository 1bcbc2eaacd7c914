// A small network end to end: conv -> batchnorm -> relu -> conv -> residual add -> pool -> linear ->
// cross-entropy. Its input and weight gradients against finite differences of a float64 reference; the
// gradient-subset property (input-only backward runs no weight-gradient kernel); constant memory over a loop
// of training steps; and one error test per kind of bad input.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  add,
  affine,
  batchNorm,
  conv2d,
  globalAvgPool,
  keep,
  linear,
  memory,
  mul,
  rt,
  sgdStep,
  softmaxCrossEntropy,
  sum,
  tensor,
  tidy,
  valueAndGrads,
  zeros,
  type Tensor,
} from '../engine/index.js';
import * as ref from '../reference/f64-ops.js';
import { assertThrows, checkGradients, checkSecondOrder, gpu, randn, randu, ready } from './helpers.js';

const t = suite('composite');
t.before(ready);

const [N, C, H, W, F, K] = [3, 3, 5, 5, 4, 3];
const LABELS = Int32Array.from([2, 0, 1]);
const conv1: ref.Conv2dShape = { n: N, c: C, h: H, w: W, cout: F, kh: 3, kw: 3, stride: 1, pad: 1 };
const conv2: ref.Conv2dShape = { ...conv1, c: F };

const SHAPES = {
  x: [N, C, H, W],
  w1: [F, C, 3, 3],
  gamma: [F],
  beta: [F],
  w2: [F, F, 3, 3],
  fcW: [K, F],
  fcB: [K],
};
const NAMES = Object.keys(SHAPES) as (keyof typeof SHAPES)[];

type State = { runningMean: Tensor; runningVar: Tensor };

function net([x, w1, gamma, beta, w2, fcW, fcB]: Tensor[], labels: Tensor, state: State): Tensor {
  const a = batchNorm(conv2d(x, w1, { padding: 1 }), gamma, beta, state, { training: true, relu: true });
  const h = add(a, conv2d(a, w2, { padding: 1 }));
  return softmaxCrossEntropy(linear(globalAvgPool(h), fcW, fcB), labels);
}

function netRef([x, w1, gamma, beta, w2, fcW, fcB]: Float64Array[]): Float64Array {
  const a = ref.relu(ref.batchNormTrain(ref.conv2d(x, w1, conv1), gamma, beta, N, F, H * W).y);
  const h = ref.add(a, ref.conv2d(a, w2, conv2));
  const logits = ref.linear(ref.avgPool(h, N * F, H * W), fcW, fcB, N, F, K);
  return Float64Array.of(ref.mean(ref.crossEntropy(logits, LABELS, N, K)));
}

function inputs(seed = 50) {
  return NAMES.map((name, i) => {
    const n = SHAPES[name].reduce((a, b) => a * b, 1);
    const data =
      name === 'gamma' ? randu(n, seed + i, 0.5, 1.5) : name === 'x' ? randu(n, seed + i) : randn(n, seed + i, 0.5);
    return { data, shape: SHAPES[name], name };
  });
}

t('input and weight gradients of the composite net match finite differences', async () => {
  const labels = tensor(LABELS, [N], { name: 'labels' });
  const state = { runningMean: zeros([F]), runningVar: zeros([F]) };
  await checkGradients({
    gpu: (ts) => net(ts, labels, state),
    cpu: netRef,
    inputs: inputs(),
    rtol: 2e-3,
    atol: 2e-4,
  });
});

t('second order: Hessian-vector products of the composite net match finite differences of its gradients', async () => {
  const labels = tensor(LABELS, [N], { name: 'labels' });
  const state = { runningMean: zeros([F]), runningVar: zeros([F]) };
  // The mixed second differences divide by h² = 1e-8: a ReLU pre-activation within ~1e-3 of its kink would turn
  // the reference into noise of order (gradient jump)/h. These inputs keep every one at least 0.01 away.
  const data = inputs(51);
  const [x, w1, gamma, beta] = data.map((d) => d.data);
  const pre = ref.batchNormTrain(ref.conv2d(x, w1, conv1), gamma, beta, N, F, H * W).y;
  assert.ok(
    pre.every((z) => Math.abs(z) > 0.01),
    'test inputs keep the ReLU pre-activations away from the kink',
  );
  await checkSecondOrder({
    gpu: (ts) => net(ts, labels, state),
    cpu: netRef,
    inputs: data,
    rtol: 2e-3,
    atol: 2e-4,
  });
});

t('an input-only backward dispatches no weight-gradient kernel', async () => {
  const ts = inputs().map((i) => gpu(i.data, i.shape, i.name));
  const labels = tensor(LABELS, [N], { name: 'labels' });
  const state = { runningMean: zeros([F]), runningVar: zeros([F]) };
  const families = (wrt: Tensor[]) => {
    rt().resetCounters();
    tidy(() => valueAndGrads(() => net(ts, labels, state), wrt));
    return rt().counters().byFamily;
  };
  const all = families(ts);
  assert.ok(
    (all['conv-weight-grad'] ?? 0) > 0 && (all['weight-grad'] ?? 0) > 0,
    `full backward ran weight-grad kernels: ${JSON.stringify(all)}`,
  );
  const inputOnly = families([ts[0]]);
  assert.is(inputOnly['conv-weight-grad'] ?? 0, 0, `conv weight-grad kernels in ${JSON.stringify(inputOnly)}`);
  assert.is(inputOnly['weight-grad'] ?? 0, 0, `weight-grad kernels in ${JSON.stringify(inputOnly)}`);
  assert.ok((inputOnly['conv-input-grad'] ?? 0) >= 2, 'the input gradient still flows through both convs');
});

/** Trains the net's weights on `objective` with SGD: after warm-up, memory stays constant and the objective falls. */
async function assertStepsHoldMemory(
  objective: (ts: Tensor[], labels: Tensor, state: State) => Tensor,
  lr: number,
): Promise<void> {
  const ts = inputs().map((i) => keep(gpu(i.data, i.shape, i.name)));
  const labels = keep(tensor(LABELS, [N], { name: 'labels' }));
  const state = { runningMean: keep(zeros([F])), runningVar: keep(zeros([F])) };
  const params = ts.slice(1);
  const momenta = params.map((p) => keep(zeros(p.shape)));
  const step = () =>
    tidy(() => {
      const { value, grads } = valueAndGrads(() => objective(ts, labels, state), ts);
      params.forEach((p, i) =>
        sgdStep(p, grads[i + 1], momenta[i], { lr, momentum: 0.9, nesterov: false, weightDecay: 5e-4 }),
      );
      return value;
    });
  const losses: number[] = [];
  const run = async () => {
    const loss = step();
    losses.push(await loss.item());
    loss.dispose();
  };
  for (let i = 0; i < 3; i++) await run();
  await rt().sync();
  const before = memory();
  for (let i = 0; i < 5; i++) await run();
  await rt().sync();
  const after = memory();
  assert.is(after.liveTensors, before.liveTensors, 'live tensors');
  assert.is(after.bytesInUse, before.bytesInUse, 'bytes in use');
  assert.is(after.bytesPooled, before.bytesPooled, 'no new pool buffers after warm-up');
  assert.ok(losses.at(-1)! < losses[0], `SGD lowers the loss: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
  for (const t of [...ts, labels, state.runningMean, state.runningVar, ...momenta]) t.dispose();
}

t('a loop of training steps holds memory constant', async () => {
  await assertStepsHoldMemory(net, 0.1);
});

t('a loop of double-backward steps (loss + input-gradient penalty) holds memory constant', async () => {
  // Drucker and LeCun's double backpropagation: L + 0.5·|∂L/∂x|², differentiated in the weights.
  await assertStepsHoldMemory((ts, labels, state) => {
    const inner = valueAndGrads(() => net(ts, labels, state), [ts[0]], { createGraph: true });
    return add(inner.value, affine(sum(mul(inner.grads[0], inner.grads[0])), 0.5, 0));
  }, 0.05);
});

t('bad inputs give errors naming the op and the shapes', async () => {
  const x = gpu(randn(2 * 3 * 4 * 4, 1), [2, 3, 4, 4], 'x');
  assertThrows(() => conv2d(x, gpu(randn(4 * 2 * 9, 1), [4, 2, 3, 3], 'w')), /conv2d/, /\[2,3,4,4\]/, /\[4,2,3,3\]/);
  assertThrows(() => add(x, gpu(randn(3, 1), [3])), /add/, /\[2,3,4,4\]/, /\[3\]/);
  assertThrows(() => conv2d(gpu(randn(12, 1), [3, 4]), gpu(randn(27, 1), [1, 3, 3, 3])), /conv2d/, /rank 4/);
  const logits = gpu(randn(6, 1), [2, 3], 'logits');
  assertThrows(
    () => softmaxCrossEntropy(logits, tensor(Int32Array.from([0, 3]), [2])),
    /softmaxCrossEntropy/,
    /label 3/,
    /out of range/,
  );
  assertThrows(() => tensor(Float32Array.from([1, NaN]), [2], { name: 'img' }), /img/, /NaN|finite/);
  const gone = gpu(randn(4, 1), [4], 'gone');
  gone.dispose();
  assertThrows(() => add(gone, gone), /gone/, /dispose/);
});

t.run();
