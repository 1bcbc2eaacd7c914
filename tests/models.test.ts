// The model registry and the Sequential models (mnist-net, mlp-WIDTHxDEPTH): state_dict keys and shapes of their
// PyTorch definitions, FLOPs, the input shapes each accepts, and a training step's loss, logits and every
// gradient (weights and input) against the float64 Sequential reference, in both kernel variants.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { softmaxCrossEntropy, tensor, tidy, valueAndGrads } from '../engine/index.js';
import { MODELS, findModel, inferModel, resolveModel } from '../nn/registry.js';
import type { Classifier } from '../nn/model.js';
import { sequentialStep64, type Layer64 } from '../reference/f64-sequential.js';
import { assertClose, assertThrows, gpu, randu, ready, withKernels, KERNEL_VARIANTS } from './helpers.js';

const t = suite('models');
t.before(ready);

const shapes = (name: string, input: number[], classes: number) =>
  Object.fromEntries(resolveModel(name, input, classes).layout.map(([k, s]) => [k, s.shape.join('x')]));

t('registry: every family is listed; unknown names and malformed ones say what is expected', () => {
  assert.equal(MODELS.map((m) => m.pattern).sort(), ['mlp-WIDTHxDEPTH', 'mnist-net', 'wrn-DEPTH-WIDTH']);
  assertThrows(
    () => findModel('resnet-18'),
    /unknown model 'resnet-18'; models: .*mlp-WIDTHxDEPTH.*mnist-net.*wrn-DEPTH-WIDTH/,
  );
  assertThrows(() => resolveModel('mlp-0x3', [16], 26), /model 'mlp-0x3': width must be in \[1, 65536\], got 0/);
  assertThrows(() => resolveModel('mlp-256', [16], 26), /expected mlp-WIDTHxDEPTH, e\.g\. mlp-256x3/);
  assertThrows(() => resolveModel('wrn-15-1', [3, 32, 32], 10), /depth must be 6n\+4/);
});

t('each model refuses input shapes it cannot take, before anything is allocated', () => {
  assertThrows(
    () => resolveModel('mnist-net', [3, 32, 32], 10),
    /model 'mnist-net' takes 28x28 grey-scale images \[1, 28, 28\]/,
  );
  assertThrows(
    () => resolveModel('wrn-16-1', [16], 26),
    /model 'wrn-16-1' takes images \[C, H, W\], not inputs of shape \[16\]; use mlp-WIDTHxDEPTH/,
  );
  assert.is(resolveModel('mlp-64x2', [1, 28, 28], 10).layout[0][1].shape.join('x'), '64x784', 'an MLP flattens images');
});

t('state_dict keys and shapes are those of the reference torch.nn.Sequential', () => {
  assert.equal(shapes('mnist-net', [1, 28, 28], 10), {
    '0.weight': '16x1x4x4',
    '0.bias': '16',
    '2.weight': '32x16x4x4',
    '2.bias': '32',
    '5.weight': '100x1568',
    '5.bias': '100',
    '7.weight': '10x100',
    '7.bias': '10',
  });
  assert.equal(shapes('mlp-256x3', [16], 26), {
    '0.weight': '256x16',
    '0.bias': '256',
    '2.weight': '256x256',
    '2.bias': '256',
    '4.weight': '256x256',
    '4.bias': '256',
    '6.weight': '26x256',
    '6.bias': '26',
  });
  assert.is(shapes('wrn-16-1', [1, 28, 28], 10)['conv1.weight'], '16x1x3x3', 'WRN input channels from the dataset');
  // Built models hold exactly the layout, in its order.
  for (const [name, input, classes] of [
    ['mnist-net', [1, 28, 28], 10],
    ['mlp-32x2', [7], 3],
    ['wrn-10-1', [1, 28, 28], 10],
  ] as const) {
    const r = resolveModel(name, input, classes);
    const m = r.build(1);
    const held = m.namedParameters().map(([k, p]) => [k, p.tensor.shape.join('x')]);
    assert.equal(
      held,
      r.layout.filter(([k]) => !/running_|num_batches/.test(k)).map(([k, s]) => [k, s.shape.join('x')]),
      name,
    );
    m.dispose();
  }
});

t('FLOPs per example: multiply-adds counted layer by layer', () => {
  // mnist-net: conv1 14·14·16·(1·16), conv2 7·7·32·(16·16), fc1 1568·100, fc2 100·10 multiply-adds.
  assert.is(
    resolveModel('mnist-net', [1, 28, 28], 10).flops,
    2 * (14 * 14 * 16 * 16 + 7 * 7 * 32 * 256 + 1568 * 100 + 1000),
  );
  assert.is(resolveModel('mlp-256x3', [16], 26).flops, 2 * (16 * 256 + 2 * 256 * 256 + 256 * 26));
});

t('a foreign state_dict is recognised from its tensor names and shapes', () => {
  const spec = (name: string, input: number[], classes: number) =>
    Object.fromEntries(resolveModel(name, input, classes).layout) as Parameters<typeof inferModel>[0];
  assert.is(inferModel(spec('mnist-net', [1, 28, 28], 10)), 'mnist-net');
  assert.is(inferModel(spec('mlp-128x4', [57], 2)), 'mlp-128x4');
  assert.is(inferModel(spec('wrn-16-2', [1, 28, 28], 10)), 'wrn-16-2');
  const none = inferModel({ 'x.weight': { dtype: 'F32', shape: [3] } });
  assert.ok(typeof none !== 'string' && /not wrn-DEPTH-WIDTH: no 'fc\.weight'/.test(none.not), JSON.stringify(none));
});

/** The model's parameters as float64 host arrays, by state_dict key. */
async function params64(m: Classifier): Promise<Record<string, Float64Array>> {
  return Object.fromEntries(
    await Promise.all(
      m.namedParameters().map(async ([k, p]) => [k, Float64Array.from(await p.tensor.data())] as const),
    ),
  );
}

async function checkStep(name: string, input: number[], classes: number, layers: Layer64[], n: number): Promise<void> {
  const m = resolveModel(name, input, classes).build(3);
  const size = input.reduce((a, d) => a * d, 1);
  const x64 = randu(n * size, 11);
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % classes);
  const ref = sequentialStep64(layers, await params64(m), x64, input, labels);
  const x = gpu(x64, [n, ...input], 'x');
  const y = tensor(labels, [n], { name: 'y' });
  const weights = m.namedParameters().map(([, p]) => p.tensor);
  const logits = tidy(() => m.forward(x));
  const { value, grads } = tidy(() => valueAndGrads(() => softmaxCrossEntropy(m.forward(x), y), [x, ...weights]));
  assertClose(await logits.data(), ref.logits, `${name}: logits`, 1e-4, 1e-5);
  assertClose(await value.data(), [ref.loss], `${name}: loss`, 1e-5, 1e-6);
  assertClose(await grads[0].data(), ref.dx, `${name}: input gradient`, 1e-3, 1e-6);
  for (const [i, [k]] of m.namedParameters().entries())
    assertClose(await grads[i + 1].data(), ref.grads[k], `${name}: d ${k}`, 1e-3, 1e-6);
  for (const v of [x, y, value, logits, ...grads]) v.dispose();
  m.dispose();
}

const MNIST_NET: Layer64[] = [
  { kind: 'conv2d', key: '0', cout: 16, k: 4, stride: 2, pad: 1 },
  { kind: 'relu' },
  { kind: 'conv2d', key: '2', cout: 32, k: 4, stride: 2, pad: 1 },
  { kind: 'relu' },
  { kind: 'flatten' },
  { kind: 'linear', key: '5', out: 100 },
  { kind: 'relu' },
  { kind: 'linear', key: '7', out: 10 },
];

const mlp = (width: number, depth: number, classes: number): Layer64[] => [
  ...Array.from({ length: depth }, (_, i): Layer64[] => [
    { kind: 'linear', key: String(2 * i), out: width },
    { kind: 'relu' },
  ]).flat(),
  { kind: 'linear', key: String(2 * depth), out: classes },
];

for (const variant of KERNEL_VARIANTS) {
  t(`mnist-net: logits, loss and every gradient match the float64 Sequential (${variant} kernels)`, () =>
    withKernels(variant, () => checkStep('mnist-net', [1, 28, 28], 10, MNIST_NET, 5)),
  );
  t(`mlp-WIDTHxDEPTH on features and on images: the same against float64 (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      await checkStep('mlp-24x3', [16], 26, mlp(24, 3, 26), 6);
      await checkStep('mlp-8x1', [1, 4, 4], 3, [{ kind: 'flatten' }, ...mlp(8, 1, 3)], 4);
    }),
  );
}

t("PyTorch's default initialisation: weights and biases within ±1/sqrt(fan_in), and not all equal", async () => {
  const m = resolveModel('mnist-net', [1, 28, 28], 10).build(0);
  for (const [k, p] of m.namedParameters()) {
    const fanIn = { '0': 16, '2': 256, '5': 1568, '7': 100 }[k.split('.')[0]]!;
    const v = await p.tensor.data();
    const bound = 1 / Math.sqrt(fanIn);
    assert.ok(
      v.every((e) => Math.abs(e) <= bound),
      `${k} within ±${bound}`,
    );
    const [lo, hi] = v.reduce(([a, b], e) => [Math.min(a, e), Math.max(b, e)], [Infinity, -Infinity]);
    assert.ok(hi - lo > bound, `${k} spread over the range`);
  }
  m.dispose();
});

t.run();
