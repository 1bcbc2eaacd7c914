// Argument checks of the attacks; messages name the attack and the shapes, like the engine's.
import { ShapeError, type Tensor } from '../../engine/index.js';
import type { ThreatModel } from '../threat.js';

const bad = (op: string, msg: string): never => {
  throw new ShapeError(op, msg);
};

/** Inputs x f32 [N, ...] (images [N, C, H, W], features [N, F]) and labels y i32 [N]; x's samples the threat model's. */
export function checkBatch(op: string, x: Tensor, y: Tensor, threat?: ThreatModel): void {
  if (x.dtype !== 'f32' || x.rank < 2)
    bad(op, `inputs x must be f32 [N, ...] (images [N,C,H,W] or features [N,F]), got ${x.describe()}`);
  if (y.dtype !== 'i32' || y.rank !== 1 || y.shape[0] !== x.shape[0]) {
    bad(op, `labels y must be i32 [${x.shape[0]}] for inputs x ${x.describe()}, got ${y.describe()}`);
  }
  if (threat && x.size / x.shape[0] !== threat.size) {
    bad(
      op,
      `the threat model is over samples of ${threat.size} elements; inputs x ${x.describe()} have ${x.size / x.shape[0]}`,
    );
  }
}

/** Step sizes. */
export function checkNonNegative(op: string, what: string, v: number): void {
  if (!(v >= 0 && Number.isFinite(v))) bad(op, `${what} must be a finite number >= 0, got ${v}`);
}

/** steps, restarts. */
export function checkCount(op: string, what: string, v: number, min: number): void {
  if (!(Number.isInteger(v) && v >= min)) bad(op, `${what} must be an integer >= ${min}, got ${v}`);
}

/** The arguments every attack takes: the batch, its threat model, and integer counts with their minimum, e.g. { steps: [v, 0] }. */
export function checkAttack(
  op: string,
  x: Tensor,
  y: Tensor,
  threat: ThreatModel,
  counts: Record<string, [number, number]> = {},
): void {
  checkBatch(op, x, y, threat);
  for (const [what, [v, min]] of Object.entries(counts)) checkCount(op, what, v, min);
}
