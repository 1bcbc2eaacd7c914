// Global average pooling [N, C, H, W] → [N, C] and its backward. Kernel: shaders/avgpool.wgsl.
import src from '../../shaders/avgpool.wgsl';
import { rt } from '../context.js';
import { checkDtype, fail } from '../check.js';
import { cdiv, grid, shader, type Params } from '../kernel.js';
import { record } from '../record.js';
import { empty, type Shape, type Tensor } from '../tensor.js';

const POOL_SHADER = shader(src, ['planes:u32', 'hw:u32']);
const BUFFERS = { inp: 'read f32', out: 'read_write f32' } as const;
// Both read or write the [N, C, H, W] side once and the [N, C] side once.
const bytes = (p: Params) => 4 * p.planes * (p.hw + 1);
const POOL = POOL_SHADER.kernel({ name: 'avgpool', family: 'reduction', buffers: BUFFERS, bytes });
const POOL_GRAD = POOL_SHADER.kernel({ name: 'avgpool_grad', family: 'elementwise', buffers: BUFFERS, bytes });

/** Mean over H·W of x [N, C, H, W]: y [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  const op = 'globalAvgPool';
  checkDtype(op, 'input', x, 'f32');
  if (x.rank !== 4) fail(op, `input ${x.describe()} must have rank 4 [N,C,H,W]`);
  const [n, c, h, w] = x.shape;
  const params = { planes: n * c, hw: h * w };
  const y = empty([n, c], 'avgpool');
  rt().dispatch({
    kernel: POOL,
    overrides: { GRAD: false },
    params,
    buffers: { inp: x, out: y },
    groups: grid(cdiv(n * c, 256)),
  });
  record(op, [x], y, (dy) => [avgPoolGrad(dy, x.shape)]);
  return y;
}

/** globalAvgPool's backward: dy [N, C] spread as dy/(H·W) over `shape` [N, C, H, W]; recorded (its backward is the pool). */
export function avgPoolGrad(dy: Tensor, shape: Shape): Tensor {
  const [n, c, h, w] = shape;
  if (shape.length !== 4 || dy.rank !== 2 || dy.shape[0] !== n || dy.shape[1] !== c)
    fail('avgPoolGrad', `gradient ${dy.describe()} must be [N, C] of [${shape.join(',')}]`);
  const dx = empty(shape, 'davgpool');
  rt().dispatch({
    kernel: POOL_GRAD,
    overrides: { GRAD: true },
    params: { planes: n * c, hw: h * w },
    buffers: { inp: dy, out: dx },
    groups: grid(cdiv(dx.size, 256)),
  });
  record('avgPoolGrad', [dy], dx, (u) => [globalAvgPool(u)]);
  return dx;
}
