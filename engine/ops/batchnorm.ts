// Batch normalization (PyTorch BatchNorm2d / BatchNorm1d semantics) with an optional fused ReLU, forward and
// backward. Kernels: shaders/batchnorm.wgsl.
import src from '../../shaders/batchnorm.wgsl';
import { rt } from '../context.js';
import { checkDtype, fail } from '../check.js';
import { cdiv, grid, shader, type BufferDecl, type CostFn, type KernelSpec, type Params } from '../kernel.js';
import { accumulated, record, recording } from '../record.js';
import { empty, type Tensor } from '../tensor.js';
import { add, affine, axpby, fill, mul, reluGrad, sub } from './elementwise.js';
import { channelBroadcast, channelSum } from './channel.js';
import { reduceRows } from './reduce.js';

const BN = shader(src, ['n:u32', 'c:u32', 'hw:u32', 'eps:f32', 'momentum:f32']);
const size = (p: Params) => p.n * p.c * p.hw;
const spec = (entry: string, buffers: Record<string, BufferDecl>, bytes: CostFn): KernelSpec =>
  BN.kernel({ name: `batchnorm_${entry}`, family: 'batchnorm', entry, buffers, bytes });
const IN = 'read f32';
const OUT = 'read_write f32';
// The [N, C, H, W] tensors are read and written as vec4s (see batchnorm.wgsl); the per-channel vectors as f32.
const IN4 = 'read vec4f';
const OUT4 = 'read_write vec4f';
// Bytes: the passes over [N, C, H, W] tensors (the per-channel vectors are negligible).
const STATS = spec('stats', { x4: IN4, run_mean: OUT, run_var: OUT, saved_out: OUT }, (p, o) =>
  o.EVAL ? 0 : 8 * size(p),
);
const AFFINE = { x4: IN4, gamma: IN, beta: IN, saved: IN } as const;
const NORMALIZE = spec('normalize', { ...AFFINE, y4: OUT4 }, (p) => 8 * size(p));
const GRAD_SUMS = spec('grad_sums', { ...AFFINE, dy4: IN4, sum_dy: OUT, sum_dyx: OUT }, (p) => 8 * size(p));
// The input-gradient entries may add the tape's running sum for x (res4) while they store; that read is 4 bytes
// an element more (a separate add pass would move 12).
const gradInputBytes: CostFn = (p, o) => (o.HAS_RESIDUAL ? 16 : 12) * size(p);
const GRAD_INPUT = spec(
  'grad_input',
  { ...AFFINE, dy4: IN4, sum_dy_in: IN, sum_dyx_in: IN, dx4: OUT4, res4: IN4 },
  gradInputBytes,
);
const GRAD_INPUT_EVAL = spec(
  'grad_input_eval',
  { ...AFFINE, dy4: IN4, dx_eval4: OUT4, res_eval4: IN4 },
  gradInputBytes,
);
// The double backward of training mode's dx (batchnorm.wgsl): the sums read x, u and g; the elementwise pass reads
// them again and writes d/dg and d/dx. Bindings shared by name with the entries above keep their numbers.
const DOUBLE_SUMS = spec(
  'double_sums',
  {
    x4: IN4,
    dgamma_out: OUT,
    gq4: IN4,
    saved: IN,
    uq4: IN4,
    sum_dy_in: IN,
    sum_dyx_in: IN,
    coef_out: OUT,
  },
  (p) => 12 * size(p),
);
const DOUBLE_INPUT = spec(
  'double_input',
  { x4: IN4, gamma: IN, gq4: IN4, coef_in: IN, uq4: IN4, ddy4: OUT4, ddx4: OUT4 },
  (p) => 20 * size(p),
);
/** Rows of double_sums' per-channel coefficients (batchnorm.wgsl MEAN .. X_X). */
const DOUBLE_COEFFICIENTS = 9;

/** Workgroup size of the per-channel reductions (the WGSL override WG). */
const WG = 64;

/** Quads per plane of the channel reductions (batchnorm.wgsl's QP). */
const quadsPerPlane = (hw: number): number => (hw % 4 === 0 ? hw / 4 : Math.floor(hw / 4) + 2);

export interface BatchNormState {
  /** [C], updated in place by training-mode calls. */
  runningMean: Tensor;
  /** [C], updated in place (with the unbiased batch variance) by training-mode calls. */
  runningVar: Tensor;
}

export interface BatchNormOptions {
  /** Batch statistics (and a running-statistics update) when true; the running statistics when false. */
  training: boolean;
  /** Weight of the batch statistics in the running update; default 0.1. */
  momentum?: number;
  /** Added to the variance; default 1e-5. */
  eps?: number;
  /** Fuses a ReLU after the affine transform: y = max(0, bn(x)). */
  relu?: boolean;
}

/**
 * Batch norm of x [N, C, H, W] (or [N, C]) per channel, with affine gamma [C] and beta [C]. Training mode
 * normalizes with the batch mean and biased variance and updates `state` in place; eval mode uses `state`.
 * The statistics the backward needs are saved in a small [2, C] tensor that lives in the caller's scope
 * (tidy / valueAndGrads), like the output.
 */
export function batchNorm(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  state: BatchNormState,
  opts: BatchNormOptions,
): Tensor {
  const op = 'batchNorm';
  const { runningMean, runningVar } = state;
  for (const [what, t] of [
    ['input', x],
    ['gamma', gamma],
    ['beta', beta],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    checkDtype(op, what, t, 'f32');
  }
  if (x.rank !== 4 && x.rank !== 2) fail(op, `input ${x.describe()} must have rank 4 [N,C,H,W] or 2 [N,C]`);
  const [n, c] = x.shape;
  const hw = x.rank === 4 ? x.shape[2] * x.shape[3] : 1;
  for (const [what, t] of [
    ['gamma', gamma],
    ['beta', beta],
    ['running mean', runningMean],
    ['running variance', runningVar],
  ] as const) {
    if (t.rank !== 1 || t.shape[0] !== c)
      fail(op, `input ${x.describe()} has ${c} channels, ${what} ${t.describe()} must be [${c}]`);
  }
  if (runningMean === runningVar)
    fail(op, `running mean and running variance are the same tensor ${runningMean.describe()}`);
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  if (!(momentum >= 0 && momentum <= 1)) fail(op, `momentum ${momentum} must be in [0, 1]`);
  if (!(eps > 0)) fail(op, `eps ${eps} must be positive`);
  const training = opts.training;
  // PyTorch refuses this too: the unbiased variance of a single value is undefined.
  if (training && n * hw < 2) fail(op, `training needs more than one value per channel, got input ${x.describe()}`);
  const relu = opts.relu ?? false;
  const params = { n, c, hw, eps, momentum };

  const saved = empty([2, c], 'batchnorm_saved');
  const QP = quadsPerPlane(hw);
  rt().dispatch({
    kernel: STATS,
    overrides: { EVAL: !training, WG, QP },
    params,
    buffers: { x4: x, run_mean: runningMean, run_var: runningVar, saved_out: saved },
    groups: grid(training ? c : cdiv(c, WG)),
  });
  const y = empty(x.shape, relu ? 'batchnorm_relu' : 'batchnorm');
  const elementwise = grid(cdiv(x.size, 4 * 256));
  // The elementwise entries are specialised to the shape (batchnorm.wgsl's HW and CH).
  const shape = { HW: hw, CH: c };
  rt().dispatch({
    kernel: NORMALIZE,
    overrides: { RELU: relu, ...shape },
    params,
    buffers: { x4: x, gamma, beta, saved, y4: y },
    groups: elementwise,
  });

  record(op, [x, gamma, beta], y, (dy, needs, prev) => {
    // Inside a create-graph backward whose tapes see these tensors, the gradients must be differentiable.
    if (recording([x, gamma, beta, dy])) {
      const norm = { x, gamma, beta, y, saved, params, relu, eps };
      return training
        ? recordedBackward(norm, dy, needs)
        : differentiableBackward(x, gamma, y, saved, params, { training, relu, eps }, dy, needs);
    }
    const [needX, needGamma, needBeta] = needs;
    let dgamma: Tensor | null = null;
    let dbeta: Tensor | null = null;
    // Training-mode dx needs both sums; eval-mode dx needs neither.
    if (needGamma || needBeta || (needX && training)) {
      dgamma = empty([c], `d${gamma.name}`);
      dbeta = empty([c], `d${beta.name}`);
      rt().dispatch({
        kernel: GRAD_SUMS,
        overrides: { RELU: relu, WG, QP },
        params,
        buffers: { x4: x, gamma, beta, saved, dy4: dy, sum_dy: dbeta, sum_dyx: dgamma },
        groups: grid(c),
      });
    }
    // dx, plus the tape's running sum for x when it has one (a residual block's identity path), added in the store.
    const inputGrad = (res?: Tensor): Tensor => {
      const dx = empty(x.shape, `d${x.name}`);
      const overrides = { RELU: relu, HAS_RESIDUAL: res !== undefined, ...shape };
      // Without a running sum the binding is unused: any read-only buffer fills it.
      if (training) {
        rt().dispatch({
          kernel: GRAD_INPUT,
          overrides,
          params,
          buffers: {
            x4: x,
            gamma,
            beta,
            saved,
            dy4: dy,
            sum_dy_in: dbeta!,
            sum_dyx_in: dgamma!,
            dx4: dx,
            res4: res ?? dy,
          },
          groups: elementwise,
        });
      } else {
        rt().dispatch({
          kernel: GRAD_INPUT_EVAL,
          overrides,
          params,
          buffers: { x4: x, gamma, beta, saved, dy4: dy, dx_eval4: dx, res_eval4: res ?? dy },
          groups: elementwise,
        });
      }
      return dx;
    };
    const dx = needX ? accumulated(prev[0], inputGrad) : null;
    if (!needGamma) dgamma?.dispose();
    if (!needBeta) dbeta?.dispose();
    return [dx, needGamma ? dgamma : null, needBeta ? dbeta : null];
  });
  return y;
}

/**
 * 1/sqrt(x + eps) elementwise, any shape; recorded (derivative -s³/2, so differentiable to any order). Computed
 * by the statistics kernel's eval branch, which writes [mean | 1/sqrt(var + eps)] rows per channel: with x as
 * the variances and a zero mean row, the column sums are the result, and the values match the ones batch norm's
 * forward uses. For per-example norms and cosines (GradAlign) and batch norm's differentiable backward.
 */
export function rsqrt(x: Tensor, eps = 0): Tensor {
  checkDtype('rsqrt', 'input', x, 'f32');
  if (!(eps >= 0)) fail('rsqrt', `eps ${eps} must be >= 0`);
  const c = x.size;
  const rows = empty([2, c], 'rsqrt_rows');
  const zeros = fill([c], 0, 'zeros');
  // The eval branch reads no input, but the entry binds one (distinct: x is bound writable as the variance).
  const unused = empty([1], 'unused');
  rt().dispatch({
    kernel: STATS,
    overrides: { EVAL: true, WG },
    params: { n: 1, c, hw: 1, eps, momentum: 0 },
    buffers: { x4: unused, run_mean: zeros, run_var: x, saved_out: rows },
    groups: grid(cdiv(c, WG)),
  });
  const s = reduceRows(rows, 2, x.shape, 1, 'rsqrt');
  for (const t of [rows, zeros, unused]) t.dispose();
  record('rsqrt', [x], s, (ds) => [mul(ds, affine(mul(s, mul(s, s)), -0.5, 0))]);
  return s;
}

/**
 * Eval mode's two linear maps with the statistics its forward saved (constants): x ↦ x̂ = (x - mean)·invstd
 * (the normalize kernel at gamma 1, beta 0) and w ↦ invstd·w (the eval input-gradient kernel at gamma 1), recorded;
 * the derivative of either is the second, which is its own adjoint.
 */
function evalMap(normalize: boolean, t: Tensor, saved: Tensor, params: Record<string, number>): Tensor {
  const c = saved.size / 2;
  const ones = fill([c], 1, 'ones');
  const zeros = fill([c], 0, 'zeros');
  const out = empty(t.shape, normalize ? 'batchnorm_xhat' : 'batchnorm_scaled');
  const groups = grid(cdiv(t.size, 4 * 256));
  const overrides = { RELU: false, HW: params.hw, CH: params.c };
  if (normalize)
    rt().dispatch({
      kernel: NORMALIZE,
      overrides,
      params,
      buffers: { x4: t, gamma: ones, beta: zeros, saved, y4: out },
      groups,
    });
  // Without the ReLU the kernel reads x only for a mask it ignores, and no running sum: t fills those bindings.
  else
    rt().dispatch({
      kernel: GRAD_INPUT_EVAL,
      overrides,
      params,
      buffers: { x4: t, gamma: ones, beta: zeros, saved, dy4: t, dx_eval4: out, res_eval4: t },
      groups,
    });
  record(normalize ? 'batchNormEvalNormalize' : 'batchNormEvalScale', [t], out, (u) => [
    evalMap(false, u, saved, params),
  ]);
  return out;
}

/** A training-mode batch norm as its backward sees it: the forward's tensors and settings. */
interface Normalization {
  x: Tensor;
  gamma: Tensor;
  beta: Tensor;
  y: Tensor;
  saved: Tensor;
  params: Params;
  relu: boolean;
  eps: number;
}

/**
 * Training mode's backward, recorded (create-graph) with fused kernels: g = dy masked by the ReLU (a recorded
 * reluGrad), the sums of g and g·x̂, and dx = gamma·s·(g - (Sg + x̂·Sgx)/M) as one recorded op of (x, gamma, g)
 * whose own backward is the two fused double-backward kernels; dgamma and dbeta, rarely differentiated again,
 * come from the composite backward. Four dispatches where the composite took about thirty, and two for the
 * double backward where differentiating the composite took hundreds.
 */
function recordedBackward(bn: Normalization, dy: Tensor, needs: readonly boolean[]): (Tensor | null)[] {
  const { x, gamma, beta, y, saved, params } = bn;
  const c = gamma.size;
  const g = bn.relu ? reluGrad(dy, y) : dy;
  const sg = empty([c], 'batchnorm_sum_g');
  const sgx = empty([c], 'batchnorm_sum_gx');
  const QP = quadsPerPlane(params.hw);
  const shape = { HW: params.hw, CH: c };
  const elementwise = grid(cdiv(x.size, 4 * 256));
  rt().dispatch({
    kernel: GRAD_SUMS,
    overrides: { RELU: false, WG, QP },
    params,
    buffers: { x4: x, gamma, beta, saved, dy4: g, sum_dy: sg, sum_dyx: sgx },
    groups: grid(c),
  });
  let dx: Tensor | null = null;
  if (needs[0]) {
    dx = empty(x.shape, `d${x.name}`);
    rt().dispatch({
      kernel: GRAD_INPUT,
      overrides: { RELU: false, HAS_RESIDUAL: false, ...shape },
      params,
      buffers: { x4: x, gamma, beta, saved, dy4: g, sum_dy_in: sg, sum_dyx_in: sgx, dx4: dx, res4: g },
      groups: elementwise,
    });
    record('batchNormInputGrad', [x, gamma, g], dx, (u, need) => {
      // A third-order pass records this backward too: the same formulas of recorded ops.
      if (recording([x, gamma, g, u])) return compositeDoubleBackward(x, gamma, g, u, bn.eps, need);
      const coef = empty([DOUBLE_COEFFICIENTS, c], 'batchnorm_double_coefficients');
      const dgamma = empty([c], `d${gamma.name}`);
      rt().dispatch({
        kernel: DOUBLE_SUMS,
        overrides: { WG, QP },
        params,
        buffers: { x4: x, dgamma_out: dgamma, gq4: g, saved, uq4: u, sum_dy_in: sg, sum_dyx_in: sgx, coef_out: coef },
        groups: grid(c),
      });
      const dg = empty(x.shape, `d${g.name}`);
      const dxx = empty(x.shape, `d${x.name}`);
      rt().dispatch({
        kernel: DOUBLE_INPUT,
        overrides: shape,
        params,
        buffers: { x4: x, gamma, gq4: g, coef_in: coef, uq4: u, ddy4: dg, ddx4: dxx },
        groups: elementwise,
      });
      coef.dispose();
      const out = [dxx, dgamma, dg];
      out.forEach((t, i) => need[i] || t.dispose());
      return out.map((t, i) => (need[i] ? t : null));
    });
  }
  const [, dgamma, dbeta] =
    needs[1] || needs[2]
      ? differentiableBackward(x, gamma, y, saved, params, { training: true, relu: bn.relu, eps: bn.eps }, dy, [
          false,
          needs[1],
          needs[2],
        ])
      : [null, null, null];
  return [dx, dgamma, dbeta];
}

/** Per channel: x̂ and s = rsqrt(var + eps) recomputed from x by recorded ops (differentiable in x). */
function compositeNormalized(x: Tensor, eps: number): { xhat: Tensor; s: Tensor } {
  const m = x.size / x.shape[1];
  const bc = (v: Tensor) => channelBroadcast(v, x.shape);
  const xc = sub(x, bc(affine(channelSum(x), 1 / m, 0)));
  const s = rsqrt(affine(channelSum(mul(xc, xc)), 1 / m, 0), eps);
  return { xhat: mul(xc, bc(s)), s };
}

/**
 * The double backward of training mode's dx(x, gamma, g) (batchnorm.wgsl's formulas) composed of recorded ops, so
 * that a third-order pass can differentiate it: gradients for x, gamma and g given the cotangent u of dx.
 */
function compositeDoubleBackward(
  x: Tensor,
  gamma: Tensor,
  g: Tensor,
  u: Tensor,
  eps: number,
  needs: readonly boolean[],
): (Tensor | null)[] {
  const m = x.size / gamma.size;
  const bc = (v: Tensor) => channelBroadcast(v, x.shape);
  const { xhat, s } = compositeNormalized(x, eps);
  const [su, sg, pu, q] = [channelSum(u), channelSum(g), channelSum(mul(u, xhat)), channelSum(mul(g, xhat))];
  const a = axpby(1, channelSum(mul(u, g)), -1 / m, mul(su, sg));
  const pq = mul(pu, q);
  const gs = mul(gamma, s);
  const ddx = () => {
    const inner = axpby(
      1,
      axpby(-1, mul(bc(q), u), -1, mul(bc(pu), g)),
      1,
      add(bc(affine(add(mul(su, q), mul(sg, pu)), 1 / m, 0)), mul(xhat, bc(axpby(3 / m, pq, -1, a)))),
    );
    return mul(bc(affine(mul(gs, s), 1 / m, 0)), inner);
  };
  const dg = () => mul(bc(gs), axpby(1, u, -1 / m, add(bc(su), mul(xhat, bc(pu)))));
  return [needs[0] ? ddx() : null, needs[1] ? mul(s, axpby(1, a, -1 / m, pq)) : null, needs[2] ? dg() : null];
}

/**
 * The batch-norm backward composed of recorded ops (so it has derivatives of every order), for create-graph:
 * x̂ = (x - mean)·s with s = rsqrt(var + eps) recomputed differentiably from x in training mode (in eval mode the
 * statistics the forward saved, constants), g = dy masked by the fused ReLU, and
 *   dβ = Σ g,  dγ = Σ g·x̂,  dx = γ·s·(g - dβ/M - x̂·dγ/M)  (training; M = N·H·W),  dx = γ·s·g  (eval),
 * the same formulas as the fused kernels in shaders/batchnorm.wgsl.
 */
function differentiableBackward(
  x: Tensor,
  gamma: Tensor,
  y: Tensor,
  saved: Tensor,
  params: Record<string, number>,
  opts: { training: boolean; relu: boolean; eps: number },
  dy: Tensor,
  needs: readonly boolean[],
): (Tensor | null)[] {
  const m = x.size / gamma.size;
  const bc = (v: Tensor) => channelBroadcast(v, x.shape);
  const g = opts.relu ? reluGrad(dy, y) : dy;
  if (!opts.training) {
    const dgamma = needs[1] ? channelSum(mul(g, evalMap(true, x, saved, params))) : null;
    return [
      needs[0] ? evalMap(false, mul(bc(gamma), g), saved, params) : null,
      dgamma,
      needs[2] ? channelSum(g) : null,
    ];
  }
  const { xhat, s } = compositeNormalized(x, opts.eps);
  const dbeta = channelSum(g);
  const dgamma = channelSum(mul(g, xhat));
  let dx: Tensor | null = null;
  if (needs[0]) {
    const centred = sub(axpby(1, g, -1 / m, bc(dbeta)), mul(xhat, bc(affine(dgamma, 1 / m, 0))));
    dx = mul(bc(mul(gamma, s)), centred);
  }
  return [dx, needs[1] ? dgamma : null, needs[2] ? dbeta : null];
}
