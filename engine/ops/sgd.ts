// The optimizer step: one fused in-place kernel per parameter tensor, outside the tape.
import sgdSrc from '../../shaders/sgd.wgsl';
import { rt } from '../context.js';
import { checkDtype, fail, sameShape } from '../check.js';
import { cdiv, grid, kernel } from '../kernel.js';
import type { Tensor } from '../tensor.js';

const SGD = kernel({
  name: 'sgd',
  family: 'optimizer',
  source: sgdSrc,
  params: ['n:u32', 'lr:f32', 'momentum:f32', 'wd:f32'],
  buffers: { param: 'read_write f32', grad: 'read f32', buf: 'read_write f32' },
  // Reads param, grad and buf, writes param and buf.
  bytes: (p) => 20 * p.n,
});

export interface SgdOptions {
  lr: number;
  /** Default 0. */
  momentum?: number;
  /** Only 0 (PyTorch's default) is supported. */
  dampening?: 0;
  /** Default false; needs momentum > 0, as in PyTorch. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (coupled, as PyTorch's SGD does). Default 0. */
  weightDecay?: number;
}

/**
 * One torch.optim.SGD step, in place on `param` and `momentumBuf` (which must start as zeros):
 *   g = grad + wd·param;  buf = momentum·buf + g;  g = nesterov ? g + momentum·buf : buf;  param -= lr·g
 * Not recorded on the tape.
 */
export function sgdStep(param: Tensor, grad: Tensor, momentumBuf: Tensor, opts: SgdOptions): void {
  const op = 'sgdStep';
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = opts;
  const all = `param ${param.describe()}, grad ${grad.describe()}, momentum buffer ${momentumBuf.describe()}`;
  if (!sameShape(param.shape, grad.shape) || !sameShape(param.shape, momentumBuf.shape)) fail(op, `shapes differ: ${all}`);
  checkDtype(op, 'param', param, 'f32');
  checkDtype(op, 'grad', grad, 'f32');
  checkDtype(op, 'momentum buffer', momentumBuf, 'f32');
  // The kernel writes param and the buffer while reading grad: one buffer in two of those roles is invalid.
  if (param.buffer === grad.buffer || param.buffer === momentumBuf.buffer || grad.buffer === momentumBuf.buffer) {
    fail(op, `param, grad and momentum buffer must be distinct tensors: ${all}`);
  }
  for (const [what, v] of [['lr', lr], ['momentum', momentum], ['weightDecay', weightDecay]] as const) {
    if (!(Number.isFinite(v) && v >= 0)) fail(op, `${what} must be a finite number >= 0, got ${v}`);
  }
  if (dampening !== 0) fail(op, `dampening ${dampening} is not supported (only 0)`);
  if (nesterov && momentum === 0) fail(op, 'nesterov needs momentum > 0');
  rt().dispatch({
    kernel: SGD,
    overrides: { NESTEROV: nesterov },
    params: { n: param.size, lr, momentum, wd: weightDecay },
    buffers: { param, grad, buf: momentumBuf },
    groups: grid(cdiv(param.size, 256)),
  });
}
