// The tape on its own: unreached leaves, seeds, nesting (first order and create-graph), and memory.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { add, memory, mul, rt, scale, sum, tidy, valueAndGrads } from '../engine/index.js';
import { assertClose, assertThrows, gpu, randn, ready } from './helpers.js';

const t = suite('tape');
t.before(ready);

const xs = randn(6, 1);
const ys = randn(6, 2);

t('an input the loss never reaches gets a zero gradient of its own shape', async () => {
  const x = gpu(xs, [6], 'x');
  const unused = gpu(ys, [2, 3], 'unused');
  const { value, grads } = valueAndGrads(() => sum(mul(x, x)), [x, unused]);
  assertClose(
    await grads[0].data(),
    xs.map((v) => 2 * v),
    'd/dx sum(x²) = 2x',
  );
  assert.equal(grads[1].shape, [2, 3]);
  assertClose(await grads[1].data(), new Float64Array(6), 'zero gradient');
  for (const v of [value, ...grads, x, unused]) v.dispose();
});

t('the caller owns the seed: it is neither freed nor changed, and no gradient is the seed itself', async () => {
  const x = gpu(xs, [6], 'x');
  const y = gpu(ys, [6], 'y');
  const seed = gpu([1, 2, 3, 4, 5, 6], [6], 'seed');
  // add passes its incoming gradient through unchanged: the leaves' gradients are the tape's copy of the seed.
  const { value, grads } = valueAndGrads(() => add(x, y), [x, y], { seed });
  assert.ok(!seed.disposed && grads.every((g) => g !== seed));
  assertClose(await grads[0].data(), [1, 2, 3, 4, 5, 6], 'dx');
  for (const v of [value, ...grads]) v.dispose();
  assertClose(await seed.data(), [1, 2, 3, 4, 5, 6], 'the seed after the gradients are freed');
  assertThrows(() => valueAndGrads(() => add(x, y), [x], { seed: gpu([1], [1]) }), /valueAndGrads/, /\[6\]/, /\[1\]/);
  for (const v of [x, y, seed]) v.dispose();
});

t(
  'nested valueAndGrads: first-order inner gradients are constants; createGraph makes them differentiable',
  async () => {
    const x = gpu(xs, [6], 'x');
    // The outer objective <g, x> with g = d/dx sum(x²) = 2x.
    const outer = (createGraph: boolean) =>
      tidy(
        () =>
          valueAndGrads(() => {
            const { grads } = valueAndGrads(() => sum(mul(x, x)), [x], { createGraph });
            return sum(mul(grads[0], x));
          }, [x]).grads[0],
      );
    // Constant g: d/dx <g, x> = g = 2x. Differentiable g: d/dx <2x, x> = 4x.
    const constant = outer(false);
    const differentiable = outer(true);
    assertClose(
      await constant.data(),
      xs.map((v) => 2 * v),
      'first order inside: 2x',
    );
    assertClose(
      await differentiable.data(),
      xs.map((v) => 4 * v),
      'create-graph: 4x',
    );
    for (const v of [constant, differentiable, x]) v.dispose();
  },
);

t('createGraph outside any valueAndGrads changes nothing: the same gradient, every intermediate freed', async () => {
  const x = gpu(xs, [6], 'x');
  const before = memory().liveTensors;
  const { value, grads } = valueAndGrads(() => sum(mul(mul(x, x), x)), [x], { createGraph: true });
  assert.is(memory().liveTensors, before + 2, 'only the value and the gradient are alive');
  assertClose(
    await grads[0].data(),
    xs.map((v) => 3 * v * v),
    'd/dx sum(x³)',
  );
  for (const v of [value, ...grads, x]) v.dispose();
});

t('a double-backward pass leaves no tensor behind but the gradients', async () => {
  const x = gpu(xs, [6], 'x');
  const w = gpu(ys, [6], 'w');
  const run = () =>
    tidy(
      () =>
        valueAndGrads(() => {
          const { value, grads } = valueAndGrads(() => sum(mul(mul(x, w), mul(x, w))), [x], { createGraph: true });
          return add(value, scale(sum(mul(grads[0], grads[0])), 0.5));
        }, [w]).grads[0],
    );
  run().dispose();
  await rt().sync();
  const before = memory();
  // f = Σ (x w)², g = 2 x w², penalty 0.5 Σ g² = 2 Σ x² w⁴: d/dw (f + penalty) = 2 x² w + 8 x² w³.
  const g = run();
  assertClose(
    await g.data(),
    xs.map((v, i) => 2 * v * v * ys[i] + 8 * v * v * ys[i] ** 3),
    'd/dw',
    1e-4,
    1e-4,
  );
  g.dispose();
  await rt().sync();
  const after = memory();
  assert.is(after.liveTensors, before.liveTensors, 'live tensors');
  assert.is(after.bytesInUse, before.bytesInUse, 'bytes in use');
  for (const v of [x, w]) v.dispose();
});

t.run();
