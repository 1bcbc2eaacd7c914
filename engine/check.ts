// Argument checks at the API boundary: every message names the op and the shapes involved.
import type { Shape, Tensor } from './tensor.js';

export const fmt = (s: Shape): string => `[${s.join(',')}]`;

export class ShapeError extends Error {
  constructor(op: string, msg: string) {
    super(`advfree: ${op}: ${msg}`);
    this.name = 'ShapeError';
  }
}

export function fail(op: string, msg: string): never {
  throw new ShapeError(op, msg);
}

export function checkRank(op: string, what: string, t: Tensor, rank: number): void {
  if (t.rank !== rank) fail(op, `${what} must have rank ${rank}, got ${t.describe()}`);
}

export function checkDtype(op: string, what: string, t: Tensor, dtype: Tensor['dtype']): void {
  if (t.dtype !== dtype) fail(op, `${what} must be ${dtype}, got ${t.describe()}`);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkSameShape(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) fail(op, `shapes differ: ${a.describe()} vs ${b.describe()}`);
}

export function checkShape(shape: Shape, what = 'shape'): void {
  if (!shape.every((d) => Number.isInteger(d) && d > 0))
    fail('tensor', `${what} ${fmt(shape)} must hold positive integers`);
}
