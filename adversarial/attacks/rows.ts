// Per-example choices between two batches. The engine has no per-row select or broadcast, so a mask the size of
// the batch is built on the host (attack batches are small) and rows are mixed as m·a + (1-m)·b, which is exact
// for m in {0, 1}: a chosen row is bit-for-bit the row it came from.
import { add, affine, keep, mul, tensor, tidy, type Shape, type Tensor } from '../../engine/index.js';

/** A tensor of `shape` whose row i (every element of example i) holds values[i]. */
export function rowTensor(values: ArrayLike<number>, shape: Shape, name: string): Tensor {
  const row = shape.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(values.length * row);
  for (let i = 0; i < values.length; i++) data.fill(values[i], i * row, (i + 1) * row);
  return tensor(data, shape, { name });
}

/** Rows of a where take[i], else rows of b. */
export function selectRows(take: readonly boolean[], a: Tensor, b: Tensor): Tensor {
  return tidy(() => {
    const m = rowTensor(take.map(Number), a.shape, 'row_mask');
    return add(mul(m, a), mul(affine(m, -1, 1), b));
  });
}

/**
 * dst with the rows where take[i] replaced by src's, for state that lives across awaits: returns a new kept tensor
 * and disposes dst, or returns dst itself when no row is taken.
 */
export function assignRows(dst: Tensor, take: readonly boolean[], src: Tensor): Tensor {
  if (!take.some(Boolean)) return dst;
  const out = keep(selectRows(take, src, dst));
  dst.dispose();
  return out;
}
