// Argument checks of the attacks; messages name the attack and the shapes, like the engine's.
import { ShapeError, type Tensor } from '../../engine/index.js';

const bad = (op: string, msg: string): never => {
  throw new ShapeError(op, msg);
};

/** Images x f32 [N, C, H, W] and labels y i32 [N]. */
export function checkBatch(op: string, x: Tensor, y: Tensor): void {
  if (x.dtype !== 'f32' || x.rank !== 4) bad(op, `images x must be f32 [N,C,H,W], got ${x.describe()}`);
  if (y.dtype !== 'i32' || y.rank !== 1 || y.shape[0] !== x.shape[0]) {
    bad(op, `labels y must be i32 [${x.shape[0]}] for images x ${x.describe()}, got ${y.describe()}`);
  }
}

/** eps, step sizes. */
export function checkNonNegative(op: string, what: string, v: number): void {
  if (!(v >= 0 && Number.isFinite(v))) bad(op, `${what} must be a finite number >= 0, got ${v}`);
}

/** steps, restarts. */
export function checkCount(op: string, what: string, v: number, min: number): void {
  if (!(Number.isInteger(v) && v >= min)) bad(op, `${what} must be an integer >= ${min}, got ${v}`);
}

/** The arguments every attack takes: the batch, eps, and integer counts with their minimum, e.g. { steps: [v, 0] }. */
export function checkAttack(op: string, x: Tensor, y: Tensor, eps: number, counts: Record<string, [number, number]> = {}): void {
  checkBatch(op, x, y);
  checkNonNegative(op, 'eps', eps);
  for (const [what, [v, min]] of Object.entries(counts)) checkCount(op, what, v, min);
}
