// Per-channel sums and broadcasts of [N, C, H, W] (or [N, C]) tensors, composed of recorded ops so that every
// derivative of them is available: the pieces of the differentiable batch-norm and bias-gradient backwards.
import type { Shape, Tensor } from '../tensor.js';
import { avgPoolGrad, globalAvgPool } from './pool.js';
import { broadcastRows, reduceRows } from './reduce.js';

/** Σ over N (and H·W) per channel: [N, C, H, W] or [N, C] → [C]. */
export function channelSum(x: Tensor): Tensor {
  const [n, c, h = 1, w = 1] = x.shape;
  return reduceRows(x.rank === 4 ? globalAvgPool(x) : x, n, [c], h * w, 'channelSum');
}

/** v [C] repeated over N (and H·W) to fill `shape`: channelSum's adjoint. */
export function channelBroadcast(v: Tensor, shape: Shape): Tensor {
  const [n, c, h = 1, w = 1] = shape;
  // avgPoolGrad divides by H·W: the row broadcast multiplies it back.
  const rows = broadcastRows(v, [n, c], h * w, 'channelBroadcast');
  return shape.length === 4 ? avgPoolGrad(rows, shape) : rows;
}
