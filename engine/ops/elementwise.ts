// Elementwise ops on equal shapes, their backward beside them, and the fill / random generators.
import unarySrc from '../../shaders/unary.wgsl';
import binarySrc from '../../shaders/binary.wgsl';
import fillSrc from '../../shaders/fill.wgsl';
import { rt } from '../context.js';
import { checkDtype, checkSameShape, checkShape, fail, fmt } from '../check.js';
import { cdiv, grid, kernel } from '../kernel.js';
import { record } from '../record.js';
import { empty, numel, type Shape, type Tensor } from '../tensor.js';

const SCALARS = ['n:u32', 'a:f32', 'b:f32'] as const;
const UNARY = kernel({
  name: 'unary',
  family: 'elementwise',
  source: unarySrc,
  params: SCALARS,
  buffers: { x4: 'read vec4f', y4: 'read_write vec4f' },
  bytes: (p) => 8 * p.n,
});
const BINARY = kernel({
  name: 'binary',
  family: 'elementwise',
  source: binarySrc,
  params: SCALARS,
  buffers: { x4: 'read vec4f', y4: 'read vec4f', out4: 'read_write vec4f' },
  bytes: (p) => 12 * p.n,
});

const FILL = kernel({
  name: 'fill',
  family: 'random',
  source: fillSrc,
  params: ['n:u32', 'a:f32', 'b:f32', 'seed:u32', 'stream:u32'],
  buffers: { y: 'read_write f32' },
  bytes: (p) => 4 * p.n,
});

const enum Un {
  Affine = 0,
  Relu = 1,
  Sign = 2,
  Clamp = 3,
}
const enum Bin {
  Axpby = 0,
  Mul = 1,
  ReluGrad = 2,
  ClampGrad = 3,
  SignStep = 4,
}

function unary(op: Un, x: Tensor, a: number, b: number, name: string): Tensor {
  checkDtype(name, 'input', x, 'f32');
  const y = empty(x.shape, name);
  rt().dispatch({
    kernel: UNARY,
    overrides: { OP: op },
    params: { n: x.size, a, b },
    buffers: { x4: x, y4: y },
    groups: grid(cdiv(x.size, 4 * 256)),
  });
  return y;
}

function binary(op: Bin, x: Tensor, y: Tensor, a: number, b: number, name: string): Tensor {
  checkDtype(name, 'x', x, 'f32');
  checkDtype(name, 'y', y, 'f32');
  checkSameShape(name, x, y);
  const out = empty(x.shape, name);
  // Four elements per invocation (binary.wgsl): vec4 loads move more bytes a cycle (bench/results/kernel-tuning.md).
  rt().dispatch({
    kernel: BINARY,
    overrides: { OP: op },
    params: { n: x.size, a, b },
    buffers: { x4: x, y4: y, out4: out },
    groups: grid(cdiv(x.size, 4 * 256)),
  });
  return out;
}

/** alpha·x + beta·y. */
export function axpby(alpha: number, x: Tensor, beta: number, y: Tensor): Tensor {
  const out = binary(Bin.Axpby, x, y, alpha, beta, 'axpby');
  record('axpby', [x, y], out, (dy, needs) => [needs[0] ? scale(dy, alpha) : null, needs[1] ? scale(dy, beta) : null]);
  return out;
}

export function add(x: Tensor, y: Tensor): Tensor {
  const out = binary(Bin.Axpby, x, y, 1, 1, 'add');
  record('add', [x, y], out, (dy) => [dy, dy]);
  return out;
}

export function sub(x: Tensor, y: Tensor): Tensor {
  return axpby(1, x, -1, y);
}

export function mul(x: Tensor, y: Tensor): Tensor {
  const out = binary(Bin.Mul, x, y, 0, 0, 'mul');
  record('mul', [x, y], out, (dy, needs) => [needs[0] ? mul(dy, y) : null, needs[1] ? mul(dy, x) : null]);
  return out;
}

/** a·x + b. */
export function affine(x: Tensor, a: number, b: number): Tensor {
  const y = unary(Un.Affine, x, a, b, 'affine');
  record('affine', [x], y, (dy) => [scale(dy, a)]);
  return y;
}

export function scale(x: Tensor, a: number): Tensor {
  return affine(x, a, 0);
}

export function relu(x: Tensor): Tensor {
  const y = unary(Un.Relu, x, 0, 0, 'relu');
  record('relu', [x], y, (dy) => [reluGrad(dy, y)]);
  return y;
}

/**
 * dy where y > 0: ReLU's backward (y its output). Recorded, so gradients through a ReLU can be differentiated
 * again: linear in dy (its derivative is the same mask), and zero almost everywhere in y.
 */
export function reluGrad(dy: Tensor, y: Tensor): Tensor {
  const out = binary(Bin.ReluGrad, dy, y, 0, 0, 'relu_grad');
  record('reluGrad', [dy, y], out, (u, needs) => [needs[0] ? reluGrad(u, y) : null, null]);
  return out;
}

/** Elementwise sign; its gradient is zero almost everywhere, so it records nothing. */
export function sign(x: Tensor): Tensor {
  return unary(Un.Sign, x, 0, 0, 'sign');
}

/** Clamps to [lo, hi]; the gradient passes where lo <= x <= hi (PyTorch's convention). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) fail('clamp', `lo ${lo} > hi ${hi}`);
  const y = unary(Un.Clamp, x, lo, hi, 'clamp');
  record('clamp', [x], y, (dy) => [clampGrad(dy, x, lo, hi)]);
  return y;
}

/** dy where lo <= x <= hi: clamp's backward, recorded like `reluGrad` (linear in dy, zero a.e. in x). */
function clampGrad(dy: Tensor, x: Tensor, lo: number, hi: number): Tensor {
  const out = binary(Bin.ClampGrad, dy, x, lo, hi, 'clamp_grad');
  record('clampGrad', [dy, x], out, (u, needs) => [needs[0] ? clampGrad(u, x, lo, hi) : null, null]);
  return out;
}

/** The same values in a shape of the same size: a view sharing x's storage (no pass over the data). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  checkShape(shape, `the shape reshape was given for ${x.describe()}`);
  if (numel(shape) !== x.size)
    fail('reshape', `${x.describe()} has ${x.size} elements, shape ${fmt(shape)} holds ${numel(shape)}`);
  const y = x.view(shape, 'reshape');
  record('reshape', [x], y, (dy) => [reshape(dy, x.shape)]);
  return y;
}

/** clamp(delta + step·sign(g), -radius, radius): one signed-gradient step of an L-inf perturbation. */
export function signStep(delta: Tensor, g: Tensor, step: number, radius: number): Tensor {
  return binary(Bin.SignStep, delta, g, step, radius, 'sign_step');
}

/**
 * Overwrites the first src.size elements of dst with src, in place (e.g. the rows of a persistent perturbation
 * that a smaller last batch used). Not differentiable.
 */
export function assignPrefix(dst: Tensor, src: Tensor): void {
  checkDtype('assignPrefix', 'dst', dst, 'f32');
  checkDtype('assignPrefix', 'src', src, 'f32');
  if (src.size > dst.size || src.buffer === dst.buffer)
    fail('assignPrefix', `cannot write ${src.describe()} into the start of ${dst.describe()}`);
  rt().dispatch({
    kernel: UNARY,
    overrides: { OP: Un.Affine },
    params: { n: src.size, a: 1, b: 0 },
    buffers: { x4: src, y4: dst },
    groups: grid(cdiv(src.size, 4 * 256)),
  });
}

function fillWith(op: number, shape: Shape, a: number, b: number, seed: number, stream: number, name: string): Tensor {
  const y = empty(shape, name);
  rt().dispatch({
    kernel: FILL,
    overrides: { OP: op },
    params: { n: y.size, a, b, seed: seed >>> 0, stream: stream >>> 0 },
    buffers: { y },
    groups: grid(cdiv(y.size, 256)),
  });
  return y;
}

export function fill(shape: Shape, value: number, name = 'fill'): Tensor {
  return fillWith(0, shape, value, 0, 0, 0, name);
}

export const zeros = (shape: Shape, name = 'zeros'): Tensor => fill(shape, 0, name);

/** Uniform in [lo, hi); element i depends only on (seed, stream, i). */
export function randomUniform(
  shape: Shape,
  lo: number,
  hi: number,
  seed: number,
  stream = 0,
  name = 'uniform',
): Tensor {
  return fillWith(1, shape, lo, hi, seed, stream, name);
}

/** Normal(mean, std); element i depends only on (seed, stream, i). */
export function randomNormal(
  shape: Shape,
  mean: number,
  std: number,
  seed: number,
  stream = 0,
  name = 'normal',
): Tensor {
  return fillWith(2, shape, mean, std, seed, stream, name);
}
