// The optimizer steps: one fused in-place kernel per parameter tensor, outside the tape (torch.optim.SGD's and
// torch.optim.Adam's updates).
import adamSrc from '../../shaders/adam.wgsl';
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

const ADAM = kernel({
  name: 'adam',
  family: 'optimizer',
  source: adamSrc,
  // b1c = 1 − β1, b2c = 1 − β2, stepSize = lr / (1 − β1^t), bc2Sqrt = sqrt(1 − β2^t): computed on the host in
  // float64 each step, as PyTorch does, and passed as uniforms (no readback, no new pipeline per step).
  params: ['n:u32', 'wd:f32', 'b1c:f32', 'beta2:f32', 'b2c:f32', 'eps:f32', 'stepSize:f32', 'bc2Sqrt:f32'],
  buffers: { param: 'read_write f32', grad: 'read f32', expAvg: 'read_write f32', expAvgSq: 'read_write f32' },
  // Reads param, grad and both moments, writes param and both moments.
  bytes: (p) => 28 * p.n,
});

/**
 * The checks every optimizer step makes: `tensors[0]` is the parameter; all are f32 of its shape, and no two share
 * a buffer (the kernel writes some of them while reading the others). Errors name every tensor.
 */
function checkStepTensors(op: string, tensors: readonly [string, Tensor][]): void {
  const all = tensors.map(([what, t]) => `${what} ${t.describe()}`).join(', ');
  const [, param] = tensors[0];
  if (tensors.some(([, t]) => !sameShape(param.shape, t.shape))) fail(op, `shapes differ: ${all}`);
  for (const [what, t] of tensors) checkDtype(op, what, t, 'f32');
  if (new Set(tensors.map(([, t]) => t.buffer)).size !== tensors.length) {
    fail(op, `${tensors.map(([what]) => what).join(', ')} must be distinct tensors: ${all}`);
  }
}

function checkNonNegative(op: string, values: Record<string, number>): void {
  for (const [what, v] of Object.entries(values)) {
    if (!(Number.isFinite(v) && v >= 0)) fail(op, `${what} must be a finite number >= 0, got ${v}`);
  }
}

export interface SgdStepOptions {
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
export function sgdStep(param: Tensor, grad: Tensor, momentumBuf: Tensor, opts: SgdStepOptions): void {
  const op = 'sgdStep';
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = opts;
  checkStepTensors(op, [
    ['param', param],
    ['grad', grad],
    ['momentum buffer', momentumBuf],
  ]);
  checkNonNegative(op, { lr, momentum, weightDecay });
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

export interface AdamStepOptions {
  lr: number;
  /** This update's step count t, from 1 (PyTorch's state['step'] after its increment): the bias corrections' power. */
  step: number;
  /** Default [0.9, 0.999], each in [0, 1). */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient before the moments (PyTorch's Adam, not AdamW). Default 0. */
  weightDecay?: number;
}

/**
 * One torch.optim.Adam step (amsgrad off), in place on `param` and the moments `expAvg`, `expAvgSq` (zeros before
 * step 1):
 *   g = grad + wd·param;  m = m + (1 − β1)·(g − m);  v = β2·v + (1 − β2)·g²
 *   param -= lr / (1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
 * Not recorded on the tape.
 */
export function adamStep(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, opts: AdamStepOptions): void {
  const op = 'adamStep';
  const { lr, step, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 } = opts;
  checkStepTensors(op, [
    ['param', param],
    ['grad', grad],
    ['exp_avg', expAvg],
    ['exp_avg_sq', expAvgSq],
  ]);
  checkNonNegative(op, { lr, eps, weightDecay });
  const [beta1, beta2] = betas;
  if (!betas.every((b) => Number.isFinite(b) && b >= 0 && b < 1))
    fail(op, `betas must be in [0, 1), got [${betas.join(', ')}]`);
  if (!Number.isSafeInteger(step) || step < 1)
    fail(op, `step must be an integer >= 1 (the count of this update), got ${step}`);
  rt().dispatch({
    kernel: ADAM,
    params: {
      n: param.size,
      wd: weightDecay,
      b1c: 1 - beta1,
      beta2,
      b2c: 1 - beta2,
      eps,
      stepSize: lr / (1 - beta1 ** step),
      bc2Sqrt: Math.sqrt(1 - beta2 ** step),
    },
    buffers: { param, grad, expAvg, expAvgSq },
    groups: grid(cdiv(param.size, 256)),
  });
}
