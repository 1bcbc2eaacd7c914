// Sum reductions (full, and over the leading axis) and their backward, a broadcast. Multi-pass: each pass
// turns [rows, cols] into [ceil(rows / chunk), cols] partials until one chunk is left (see reduce.wgsl).
import reduceSrc from '../../shaders/reduce.wgsl';
import { rt } from '../context.js';
import { checkDtype, fail } from '../check.js';
import { cdiv, grid, shader, type KernelFamily } from '../kernel.js';
import { record } from '../record.js';
import { empty, numel, type Shape, type Tensor } from '../tensor.js';

const REDUCE_SHADER = shader(reduceSrc, ['rows:u32', 'cols:u32', 'colBlocks:u32', 'chunks:u32', 'scale:f32']);
const BUFFERS = { src: 'read f32', dst: 'read_write f32' } as const;
// Reduce reads rows x cols and writes chunks x cols; broadcast reads cols and writes rows x cols.
const REDUCE = REDUCE_SHADER.kernel({
  name: 'reduce',
  family: 'reduction',
  entry: 'reduce',
  buffers: BUFFERS,
  bytes: (p) => 4 * p.cols * (p.rows + p.chunks),
});
const BROADCAST = REDUCE_SHADER.kernel({
  name: 'broadcast',
  family: 'reduction',
  entry: 'broadcast',
  buffers: BUFFERS,
  bytes: (p) => 4 * p.cols * (p.rows + 1),
});

const WG = 256;
// Rows per invocation per chunk: few workgroups, as lavapipe pays mostly per workgroup (the barrier tree;
// bench/results/kernel-tuning.md), while a 3e6-element sum still spreads over 184 workgroups on a real GPU.
const ITEMS = 64;

/** Invocations across columns: enough to cover narrow rows without idle lanes, at most 64 (4 across rows). */
const columnLanes = (cols: number): number => (cols >= 64 ? 64 : cols >= 16 ? 16 : cols >= 4 ? 4 : 1);

/**
 * scale · Σ over the leading `rows` rows of x viewed as [rows, x.size / rows], into a new tensor of shape
 * `outShape` (x.size / rows elements): the building block of `sum`, `mean`, `sumRows`, the losses' means and
 * bias gradients. Its backward is `broadcastRows`, and the two are each other's adjoints, so gradients through
 * them can be differentiated again. Callers computing a weight (bias) gradient pass family 'weight-grad'.
 */
export function reduceRows(
  x: Tensor,
  rows: number,
  outShape: Shape,
  scale: number,
  name: string,
  family?: KernelFamily,
): Tensor {
  checkDtype(name, 'input', x, 'f32');
  const cols = x.size / rows;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || numel(outShape) !== cols) {
    fail(name, `cannot sum ${x.describe()} over ${rows} rows into shape [${outShape.join(',')}]`);
  }
  const tc = columnLanes(cols);
  const chunkRows = (WG / tc) * ITEMS;
  const colBlocks = cdiv(cols, tc);
  let src = x;
  let n = rows;
  for (;;) {
    const chunks = cdiv(n, chunkRows);
    const last = chunks === 1;
    const dst = last ? empty(outShape, name) : empty([chunks, cols], `${name}_partial`);
    rt().dispatch({
      kernel: REDUCE,
      overrides: { TC: tc, ITEMS },
      params: { rows: n, cols, colBlocks, chunks, scale: last ? scale : 1 },
      buffers: { src, dst },
      groups: grid(colBlocks * chunks),
      family,
    });
    if (src !== x) src.dispose();
    if (last) {
      record(name, [x], dst, (dy) => [broadcastRows(dy, x.shape, scale, `d${x.name}`)]);
      return dst;
    }
    src = dst;
    n = chunks;
  }
}

/** scale · v repeated over leading rows to fill `shape` (v.size must divide its size); recorded. */
export function broadcastRows(v: Tensor, shape: Shape, scale: number, name = `d${v.name}`): Tensor {
  const rows = numel(shape) / v.size;
  if (!Number.isInteger(rows))
    fail('broadcastRows', `cannot repeat ${v.describe()} to fill shape [${shape.join(',')}]`);
  const dx = empty(shape, name);
  rt().dispatch({
    kernel: BROADCAST,
    params: { rows, cols: v.size, colBlocks: 1, chunks: 1, scale },
    buffers: { src: v, dst: dx },
    groups: grid(cdiv(dx.size, WG)),
  });
  record('broadcastRows', [v], dx, (u) => [reduceRows(u, rows, v.shape, scale, `d${v.name}`)]);
  return dx;
}

/** The sum of all elements, shape [1]. */
export function sum(x: Tensor): Tensor {
  return reduceRows(x, x.size, [1], 1, 'sum');
}

/** The mean of all elements, shape [1]. */
export function mean(x: Tensor): Tensor {
  return reduceRows(x, x.size, [1], 1 / x.size, 'mean');
}

/** Sums over the leading axis: [R, ...rest] → [...rest] (e.g. a bias gradient from [N, C] rows). */
export function sumRows(x: Tensor): Tensor {
  if (x.rank < 2) fail('sumRows', `input must have rank >= 2, got ${x.describe()}`);
  return reduceRows(x, x.shape[0], x.shape.slice(1), 1, 'sumRows');
}
