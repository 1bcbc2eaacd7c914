// Matrix multiplication C = op(A)·op(B), batched or not, and the linear layer built on it. One kernel serves
// every transpose combination, so the backward passes are matmuls too: the register-blocked shaders/matmul.wgsl
// on software adapters, the workgroup-tiled shaders/gemm_tiled.wgsl on GPUs (engine/ops/gemm-tiled.ts).
import src from '../../shaders/matmul.wgsl';
import { rt } from '../context.js';
import { checkDtype, fail, fmt } from '../check.js';
import { cdiv, kernel, MAX_GROUPS_PER_DIM, type KernelFamily } from '../kernel.js';
import { record } from '../record.js';
import { empty, type Tensor } from '../tensor.js';
import { GemmMode, kernelVariant, tiledGemm } from './gemm-tiled.js';
import { reluGrad } from './elementwise.js';
import { reduceRows } from './reduce.js';

const MATMUL = kernel({
  name: 'matmul',
  family: 'matmul',
  source: src,
  params: ['M:u32', 'N:u32', 'K:u32', 'strideA:u32', 'strideB:u32', 'strideC:u32'],
  buffers: { a: 'read f32', b: 'read f32', bias: 'read f32', c: 'read_write f32' },
  // Workgroup z is the batch.
  flops: (p, _o, groups) => 2 * p.M * p.N * p.K * (groups[2] ?? 1),
});
/** Columns per invocation (matmul.wgsl's PB: a constant, since an override-sized block compiled for seconds). */
const PB = 8;

/**
 * The register kernel's layout for a product with M rows and N columns: D = C, or D = Cᵀ (`swap`) so that the
 * invocations run along the longer side (on a narrow C most invocation columns would idle); RB rows of D per
 * workgroup (fewer for short matrices), PB columns per invocation at a stride of WG invocations, few of them, so
 * that small outputs still fill them (bench/results/kernel-tuning.md).
 */
function layout(M: number, N: number): { swap: boolean; RB: number; WG: number } {
  const swap = N < M;
  const [rows, cols] = swap ? [N, M] : [M, N];
  return { swap, RB: Math.min(16, 2 ** Math.ceil(Math.log2(rows))), WG: cols <= 64 ? 8 : 16 };
}

export interface MatmulOptions {
  /** Use Aᵀ: a is stored [K, M] (or [batch, K, M]). */
  transA?: boolean;
  /** Use Bᵀ: b is stored [N, K] (or [batch, N, K]). */
  transB?: boolean;
}

interface Dims {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** Whether each operand has a batch dimension (a rank-2 operand is broadcast over the batch). */
  batchedA: boolean;
  batchedB: boolean;
}

function dims(op: string, a: Tensor, b: Tensor, ta: boolean, tb: boolean): Dims {
  checkDtype(op, "'a'", a, 'f32');
  checkDtype(op, "'b'", b, 'f32');
  for (const [t, what] of [
    [a, "'a'"],
    [b, "'b'"],
  ] as const) {
    if (t.rank !== 2 && t.rank !== 3)
      fail(op, `${what} must have rank 2 or 3 ([batch,] rows, cols), got ${t.describe()}`);
  }
  const mat = (t: Tensor) => t.shape.slice(-2);
  const [aR, aC] = mat(a);
  const [bR, bC] = mat(b);
  const [M, Ka] = ta ? [aC, aR] : [aR, aC];
  const [Kb, N] = tb ? [bC, bR] : [bR, bC];
  const how = `${ta ? 'aᵀ' : 'a'}·${tb ? 'bᵀ' : 'b'}`;
  if (Ka !== Kb)
    fail(op, `inner dimensions differ in ${how}: 'a' ${fmt(a.shape)} gives ${Ka}, 'b' ${fmt(b.shape)} gives ${Kb}`);
  const batchedA = a.rank === 3;
  const batchedB = b.rank === 3;
  if (batchedA && batchedB && a.shape[0] !== b.shape[0]) {
    fail(op, `batch sizes differ: 'a' ${fmt(a.shape)} vs 'b' ${fmt(b.shape)}`);
  }
  const batch = batchedA ? a.shape[0] : batchedB ? b.shape[0] : 1;
  if (batch > MAX_GROUPS_PER_DIM) fail(op, `batch ${batch} exceeds ${MAX_GROUPS_PER_DIM}`);
  return { batch, M, N, K: Ka, batchedA, batchedB };
}

/** A linear layer's epilogue: its bias [N] added to every row, then optionally the ReLU. */
interface Epilogue {
  bias?: Tensor;
  relu?: boolean;
}

/** One dispatch of the kernel; `batched` says whether the result has a batch dimension. */
function run(
  a: Tensor,
  b: Tensor,
  d: Dims,
  ta: boolean,
  tb: boolean,
  epi: Epilogue,
  name: string,
  family: KernelFamily = 'matmul',
): Tensor {
  const { batch, M, N, K } = d;
  const batched = d.batchedA || d.batchedB;
  const c = empty(batched ? [batch, M, N] : [M, N], name);
  const strides = { A: d.batchedA ? M * K : 0, B: d.batchedB ? K * N : 0, C: M * N };
  const { bias, relu = false } = epi;
  if (kernelVariant() === 'tiled') {
    tiledGemm({ mode: GemmMode.Matmul, family, M, N, K, a, b, bias, relu, c, batch, strides, transA: ta, transB: tb });
    return c;
  }
  const { swap, RB, WG } = layout(M, N);
  // Cᵀ = op(B)ᵀ·op(A)ᵀ: B becomes the left operand, read transposed unless it was, and A the right one.
  const [x, y, tx, ty, rows, cols, sx, sy] = swap
    ? [b, a, !tb, !ta, N, M, strides.B, strides.A]
    : [a, b, ta, tb, M, N, strides.A, strides.B];
  rt().dispatch({
    kernel: MATMUL,
    family,
    overrides: { TA: tx, TB: ty, TC: swap, HAS_BIAS: bias !== undefined, RELU: relu, RB, WG },
    params: { M: rows, N: cols, K, strideA: sx, strideB: sy, strideC: strides.C },
    buffers: { a: x, b: y, bias: bias ?? a, c },
    groups: [cdiv(cols, WG * PB), cdiv(rows, RB), batch],
  });
  return c;
}

/**
 * op(a)·op(b) as one kernel, not recorded: for ops that compose their own kernels (a convolution's input
 * gradient by columns). Shapes are checked as for matmul.
 */
export function gemm(a: Tensor, b: Tensor, opts: MatmulOptions, name: string, family: KernelFamily): Tensor {
  const ta = opts.transA ?? false;
  const tb = opts.transB ?? false;
  return run(a, b, dims('gemm', a, b, ta, tb), ta, tb, {}, name, family);
}

/** Sums a batched gradient over the batch, for an operand that was broadcast. */
function unbroadcast(g: Tensor, batchedInput: boolean, batched: boolean, family: KernelFamily): Tensor {
  if (batchedInput || !batched) return g;
  const s = reduceRows(g, g.shape[0], g.shape.slice(1), 1, 'matmul', family);
  g.dispose(); // reduceRows's backward reads only its input's shape
  return s;
}

/**
 * op(a)·op(b), recorded with a backward made of the same products, so its gradients can be differentiated
 * again. `family` labels the forward dispatch (a linear layer's weight gradient is 'weight-grad' work).
 */
function product(
  a: Tensor,
  b: Tensor,
  ta: boolean,
  tb: boolean,
  name: string,
  family: KernelFamily = 'matmul',
): Tensor {
  const op = 'matmul';
  const d = dims(op, a, b, ta, tb);
  const c = run(a, b, d, ta, tb, {}, name, family);
  const batched = d.batchedA || d.batchedB;
  record(op, [a, b], c, (dc, needs) => {
    // d(op(A)) = dC·op(B)ᵀ and d(op(B)) = op(A)ᵀ·dC, each written as one product in the stored layouts.
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      const [x, y, tx, ty] = ta ? [b, dc, tb, true] : [dc, b, false, !tb];
      da = unbroadcast(product(x, y, tx, ty, `d${a.name}`), d.batchedA, batched, 'matmul');
    }
    if (needs[1]) {
      const [x, y, tx, ty] = tb ? [dc, a, true, ta] : [a, dc, !ta, false];
      db = unbroadcast(product(x, y, tx, ty, `d${b.name}`), d.batchedB, batched, 'matmul');
    }
    return [da, db];
  });
  return c;
}

/**
 * C = op(a)·op(b) with op a transpose where asked. Rank 2 or 3 operands; with rank 3 the leading dimension is
 * a batch, and a rank-2 operand is shared by every batch entry.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  return product(a, b, opts.transA ?? false, opts.transB ?? false, 'matmul');
}

export interface LinearOptions {
  /** Fuses a ReLU after the bias: y = max(0, x·wᵀ + b), one pass; its backward masks dy by y > 0 first. */
  relu?: boolean;
}

/**
 * A fully connected layer y = x·wᵀ + b (PyTorch's nn.Linear layout): x [N, in], w [out, in], b [out].
 * The bias (and the ReLU) are fused into the matmul; the weight and bias gradients count as 'weight-grad' work.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor, opts: LinearOptions = {}): Tensor {
  const op = 'linear';
  if (x.rank !== 2) fail(op, `input 'x' must be [N, in], got ${x.describe()}`);
  if (w.rank !== 2) fail(op, `weight 'w' must be [out, in], got ${w.describe()}`);
  if (x.shape[1] !== w.shape[1])
    fail(op, `input 'x' ${fmt(x.shape)} has ${x.shape[1]} features, weight 'w' ${fmt(w.shape)} expects ${w.shape[1]}`);
  if (b) {
    checkDtype(op, "bias 'b'", b, 'f32');
    if (b.rank !== 1 || b.shape[0] !== w.shape[0])
      fail(op, `bias ${b.describe()} must be [${w.shape[0]}] for weight 'w' ${fmt(w.shape)}`);
  }
  const relu = opts.relu ?? false;
  const y = run(x, w, dims(op, x, w, false, true), false, true, { bias: b, relu }, relu ? 'linear_relu' : 'linear');
  record(op, b ? [x, w, b] : [x, w], y, (dy, needs) => {
    // The gradient of the pre-activation: recorded, so that it can be differentiated again.
    const g = relu ? reluGrad(dy, y) : dy;
    return [
      needs[0] ? product(g, w, false, false, `d${x.name}`) : null,
      needs[1] ? product(g, x, true, false, `d${w.name}`, 'weight-grad') : null,
      needs[2] ? reduceRows(g, g.shape[0], [w.shape[0]], 1, `d${b!.name}`, 'weight-grad') : null,
    ];
  });
  return y;
}
