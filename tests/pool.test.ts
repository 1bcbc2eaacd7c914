import { suite } from 'uvu';
import { globalAvgPool, mul } from '../engine/index.js';
import * as ref from '../reference/f64-ops.js';
import { assertThrows, checkGradients, checkSecondOrder, gpu, randn, ready } from './helpers.js';

const t = suite('pool');
t.before(ready);

t('global average pooling and its backward match float64 (odd planes, 1x1 spatial, batch 1)', async () => {
  for (const [n, c, h, w] of [
    [2, 3, 7, 5],
    [1, 4, 1, 1],
    [3, 300, 2, 3],
  ]) {
    await checkGradients({
      gpu: ([x]) => globalAvgPool(x),
      cpu: ([x]) => ref.avgPool(x, n * c, h * w),
      inputs: [{ data: randn(n * c * h * w, n + c + h), shape: [n, c, h, w], name: 'x' }],
    });
  }
});

t('second order: a product of pooled maps (the pool backward is itself differentiated)', async () => {
  const [n, c, h, w] = [2, 3, 4, 3];
  const size = n * c * h * w;
  await checkSecondOrder({
    gpu: ([x, y]) => mul(globalAvgPool(x), globalAvgPool(y)),
    cpu: ([x, y]) => {
      const py = ref.avgPool(y, n * c, h * w);
      return ref.avgPool(x, n * c, h * w).map((v, i) => v * py[i]);
    },
    inputs: [
      { data: randn(size, 31), shape: [n, c, h, w], name: 'x' },
      { data: randn(size, 32), shape: [n, c, h, w], name: 'y' },
    ],
  });
});

t('pooling rejects a tensor that is not NCHW', () => {
  assertThrows(() => globalAvgPool(gpu(randn(6, 1), [2, 3])), /globalAvgPool/, /\[2,3\]/, /rank 4/);
});

t.run();
