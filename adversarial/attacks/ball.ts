// The set every attack searches: the L-inf ball of radius eps around the clean images x, intersected with the
// image range [0, 1]. Both are boxes, so their intersection is the box [max(x-eps, 0), min(x+eps, 1)].
import { add, clamp, randomUniform, signStep, sub, type Tensor } from '../../engine/index.js';

/** The point of the set nearest to v, coordinate by coordinate: clamp(x + clamp(v - x, -eps, eps), 0, 1). */
export function project(x: Tensor, v: Tensor, eps: number): Tensor {
  return clamp(add(x, clamp(sub(v, x), -eps, eps)), 0, 1);
}

/** x plus noise uniform in [-eps, eps) per pixel, clipped to [0, 1]. Counter-based: a function of (seed, stream). */
export function randomStart(x: Tensor, eps: number, seed: number, stream: number): Tensor {
  return clamp(add(x, randomUniform(x.shape, -eps, eps, seed, stream, 'random_start')), 0, 1);
}

/** PGD's update: xAdv + step·sign(grad), projected back onto the set. */
export function signedStep(x: Tensor, xAdv: Tensor, grad: Tensor, step: number, eps: number): Tensor {
  return clamp(add(x, signStep(sub(xAdv, x), grad, step, eps)), 0, 1);
}
