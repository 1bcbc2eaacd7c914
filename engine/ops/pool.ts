// Global average pooling [N, C, H, W] → [N, C] and its backward. Kernel: shaders/avgpool.wgsl.
import src from '../../shaders/avgpool.wgsl';
import { rt } from '../context.js';
import { checkDtype, fail } from '../check.js';
import { cdiv, grid, kernel } from '../kernel.js';
import { record } from '../record.js';
import { empty, type Tensor } from '../tensor.js';

const PARAMS = ['planes:u32', 'hw:u32'] as const;
const POOL = kernel({ name: 'avgpool', family: 'reduction', source: src, params: PARAMS });
const POOL_GRAD = kernel({ name: 'avgpool_grad', family: 'elementwise', source: src, params: PARAMS });

/** Mean over H·W of x [N, C, H, W]: y [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  const op = 'globalAvgPool';
  checkDtype(op, 'input', x, 'f32');
  if (x.rank !== 4) fail(op, `input ${x.describe()} must have rank 4 [N,C,H,W]`);
  const [n, c, h, w] = x.shape;
  const params = { planes: n * c, hw: h * w };
  const y = empty([n, c], 'avgpool');
  rt().dispatch({ kernel: POOL, overrides: { GRAD: false }, params, buffers: [x, y], groups: grid(cdiv(n * c, 256)) });
  record(op, [x], y, (dy) => {
    const dx = empty(x.shape, `d${x.name}`);
    rt().dispatch({ kernel: POOL_GRAD, overrides: { GRAD: true }, params, buffers: [dy, dx], groups: grid(cdiv(x.size, 256)) });
    return [dx];
  });
  return y;
}
