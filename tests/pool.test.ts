import { suite } from 'uvu';
import { globalAvgPool } from '../engine/index.js';
import * as ref from './reference.js';
import { assertThrows, checkGradients, gpu, randn, ready } from './helpers.js';

const t = suite('pool');
t.before(ready);

t('global average pooling and its backward match float64 (odd planes, 1x1 spatial, batch 1)', async () => {
  for (const [n, c, h, w] of [[2, 3, 7, 5], [1, 4, 1, 1], [3, 300, 2, 3]]) {
    await checkGradients({
      gpu: ([x]) => globalAvgPool(x),
      cpu: ([x]) => ref.avgPool(x, n * c, h * w),
      inputs: [{ data: randn(n * c * h * w, n + c + h), shape: [n, c, h, w], name: 'x' }],
    });
  }
});

t('pooling rejects a tensor that is not NCHW', () => {
  assertThrows(() => globalAvgPool(gpu(randn(6, 1), [2, 3])), /globalAvgPool/, /\[2,3\]/, /rank 4/);
});

t.run();
