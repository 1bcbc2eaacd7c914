// 2-D convolution (PyTorch semantics: cross-correlation, zero padding, NCHW) and its gradients, all as
// implicit GEMMs: forward and input gradient in shaders/conv2d.wgsl, the weight gradient as a split-K GEMM
// (shaders/conv2d_wgrad.wgsl) whose per-chunk partial sums shaders/conv2d_reduce.wgsl adds up. On GPUs all three
// passes run the workgroup-tiled shaders/gemm_tiled.wgsl instead (engine/ops/gemm-tiled.ts).
import convSrc from '../../shaders/conv2d.wgsl';
import wgradSrc from '../../shaders/conv2d_wgrad.wgsl';
import reduceSrc from '../../shaders/conv2d_reduce.wgsl';
import col2imSrc from '../../shaders/col2im.wgsl';
import { rt } from '../context.js';
import { checkDtype, checkRank, fail, fmt } from '../check.js';
import { cdiv, grid, kernel } from '../kernel.js';
import { accumulated, record } from '../record.js';
import { channelBroadcast } from './channel.js';
import { reluGrad } from './elementwise.js';
import { GemmMode, kernelVariant, tiledGemm, weightGradChunk } from './gemm-tiled.js';
import { gemm } from './matmul.js';
import { empty, type Shape, type Tensor } from '../tensor.js';

// FLOPs: every pass counts 2·N·OH·OW·Cout·C·kH·kW, so their GFLOP/s compare directly.
const CONV = kernel({
  name: 'conv2d',
  family: 'conv-forward',
  source: convSrc,
  // M: output pixels per class, N·Qh·Qw; the geometry is specialised into the pipeline as override constants
  // (conv2d.wgsl says which).
  params: ['M:u32'],
  buffers: { src: 'read f32', w: 'read f32', bias: 'read f32', res: 'read f32', out: 'read_write f32' },
  // M = N·Qh·Qw counts the positions of one residue class of the stride, so the batch is M / (Qh·Qw); the
  // OH·OW of the convolution is the output's in the forward pass and the source's (dy) in the input gradient.
  flops: (p, o) => {
    const [qh, qw, srcH, srcW, outH, outW, srcC, outC, kH, kW] = [
      'QH',
      'QW',
      'SRC_H',
      'SRC_W',
      'OUT_H',
      'OUT_W',
      'SRC_C',
      'OUT_C',
      'KH',
      'KW',
    ].map((k) => Number(o[k]));
    return 2 * (p.M / (qh * qw)) * (o.MODE ? srcH * srcW : outH * outW) * srcC * outC * kH * kW;
  },
});
const WGRAD = kernel({
  name: 'conv2d_wgrad',
  family: 'conv-weight-grad',
  source: wgradSrc,
  // rows: N·OH, cut into chunks of rowsPerChunk (workgroup x); the geometry is specialised as override constants.
  params: ['rows:u32', 'rowsPerChunk:u32'],
  buffers: { x: 'read f32', dy: 'read f32', part: 'read_write f32' },
  flops: (p, o) => 2 * p.rows * Number(o.OUT_W) * Number(o.SRC_C) * Number(o.OUT_C) * Number(o.KK),
});
const COL2IM = kernel({
  name: 'col2im',
  family: 'conv-input-grad',
  source: col2imSrc,
  params: ['total:u32'],
  buffers: { cols: 'read f32', res: 'read f32', dx: 'read_write f32' },
  // Reads each column entry once (and the running sum), writes dx.
  bytes: (p, o) =>
    4 *
    p.total *
    ((Number(o.OH) * Number(o.OW) * Number(o.KH) * Number(o.KW)) / (Number(o.H) * Number(o.W)) +
      (o.HAS_RESIDUAL ? 2 : 1)),
});
const REDUCE = kernel({
  name: 'conv2d_reduce',
  family: 'conv-weight-grad',
  source: reduceSrc,
  params: ['count:u32', 'L:u32', 'strideI:u32', 'strideK:u32'],
  buffers: { src: 'read f32', out: 'read_write f32' },
  bytes: (p) => 4 * p.count * (p.L + 1),
});

export interface Conv2dOptions {
  /** Default 1. */
  stride?: number;
  /** Zero padding on every side; default 0. */
  padding?: number;
  /** Per-output-channel bias [Cout]. */
  bias?: Tensor;
  /**
   * Added to the output, a tensor of its shape [N, Cout, OH, OW]: a residual block's add fused into the
   * convolution's store (one pass over the activation less, forward); its gradient is the output's.
   */
  residual?: Tensor;
  /** Fuses a ReLU after the bias and the residual: one pass; its backward masks dy by the output > 0 first. */
  relu?: boolean;
}

/** Sizes of one convolution, shared by its three passes. */
interface Geometry {
  N: number;
  C: number;
  H: number;
  W: number;
  Cout: number;
  kH: number;
  kW: number;
  OH: number;
  OW: number;
  stride: number;
  pad: number;
}

/**
 * Register-block widths: pixels (fixed) and output channels (the next power of two, up to 16). 8 x 16 is the block
 * lavapipe runs fastest at the WRN shapes (bench/results/kernel-tuning.md).
 */
const PB = 8;
const WG = 64;
const channelBlock = (channels: number): number => Math.min(16, 2 ** Math.ceil(Math.log2(channels)));

function geometry(op: string, xShape: Shape, wShape: Shape, stride: number, pad: number): Geometry {
  const [N, C, H, W] = xShape;
  const [Cout, Cw, kH, kW] = wShape;
  if (!Number.isInteger(stride) || stride < 1) fail(op, `stride must be a positive integer, got ${stride}`);
  if (!Number.isInteger(pad) || pad < 0) fail(op, `padding must be a non-negative integer, got ${pad}`);
  if (C !== Cw) fail(op, `input 'x' ${fmt(xShape)} has ${C} channels, weight 'w' ${fmt(wShape)} expects ${Cw}`);
  if (kH > H + 2 * pad || kW > W + 2 * pad) {
    fail(op, `kernel ${kH}x${kW} of weight ${fmt(wShape)} is larger than input ${fmt(xShape)} padded by ${pad}`);
  }
  const OH = Math.floor((H + 2 * pad - kH) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - kW) / stride) + 1;
  return { N, C, H, W, Cout, kH, kW, OH, OW, stride, pad };
}

/** Forward (src = x) or input gradient (src = dy): the two gather-style implicit GEMMs of conv2d.wgsl. */
function gatherConv(
  g: Geometry,
  src: Tensor,
  w: Tensor,
  bias: Tensor | undefined,
  inputGrad: boolean,
  name: string,
  residual?: Tensor,
  relu = false,
): Tensor {
  const { N, C, H, W, Cout, kH, kW, OH, OW, stride, pad } = g;
  const [outC, outH, outW, srcC, srcH, srcW] = inputGrad ? [C, H, W, Cout, OH, OW] : [Cout, OH, OW, C, H, W];
  // The input gradient visits its output pixels by residue class mod the stride (see conv2d.wgsl).
  const classes = inputGrad ? stride * stride : 1;
  const Qh = inputGrad ? cdiv(H, stride) : OH;
  const Qw = inputGrad ? cdiv(W, stride) : OW;
  const M = N * Qh * Qw;
  const CB = channelBlock(outC);
  const coBlocks = cdiv(outC, CB);
  const kk = kH * kW;
  if (inputGrad && CB < COLUMNS_BELOW && kernelVariant() === 'register')
    return columnsInputGrad(g, src, w, name, residual);
  const out = empty([N, outC, outH, outW], name);
  if (kernelVariant() === 'tiled') {
    tiledGemm({
      mode: inputGrad ? GemmMode.ConvInputGrad : GemmMode.ConvForward,
      family: inputGrad ? 'conv-input-grad' : 'conv-forward',
      M: N * outH * outW,
      N: outC,
      K: srcC * kk,
      a: src,
      b: w,
      bias,
      residual,
      relu,
      c: out,
      geometry: g,
    });
    return out;
  }
  rt().dispatch({
    kernel: CONV,
    family: inputGrad ? 'conv-input-grad' : 'conv-forward',
    overrides: {
      MODE: inputGrad ? 1 : 0,
      PB,
      CB,
      WG,
      HAS_BIAS: bias !== undefined,
      HAS_RESIDUAL: residual !== undefined,
      RELU: relu,
      QH: Qh,
      QW: Qw,
      STRIDE: stride,
      PAD: pad,
      OUT_C: outC,
      OUT_H: outH,
      OUT_W: outW,
      SRC_C: srcC,
      SRC_H: srcH,
      SRC_W: srcW,
      KH: kH,
      KW: kW,
      WS_OUT: inputGrad ? kk : C * kk,
      WS_RED: inputGrad ? C * kk : kk,
      CO_BLOCKS: coBlocks,
    },
    params: { M },
    // Without a bias or a residual the binding is unused: any read-only buffer fills it.
    buffers: { src, w, bias: bias ?? w, res: residual ?? w, out },
    groups: [...grid(cdiv(M, WG * PB)), classes * coBlocks],
  });
  return out;
}

/**
 * The register kernel's input gradient reuses each gathered dy value for CB input channels; with one (a
 * grey-scale first layer's input gradient: free training, attacks) it does one FMA per gather, and runs as
 * columns instead (bench/results/kernel-tuning.md).
 */
const COLUMNS_BELOW = 2;

/**
 * The input gradient as a GEMM and a gather: cols[n] = wᵀ·dy[n] ([C·kH·kW, OH·OW], all taps' contributions, a
 * batched matmul), then col2im.wgsl adds each pixel's taps. For few input channels; cols holds C·kH·kW values
 * per output pixel.
 */
function columnsInputGrad(g: Geometry, dy: Tensor, w: Tensor, name: string, residual?: Tensor): Tensor {
  const { N, C, H, W, Cout, kH, kW, OH, OW, stride, pad } = g;
  const wm = w.view([Cout, C * kH * kW], 'w_matrix');
  const dym = dy.view([N, Cout, OH * OW], 'dy_matrices');
  const cols = gemm(wm, dym, { transA: true }, 'dx_columns', 'conv-input-grad');
  for (const t of [wm, dym]) t.dispose();
  const dx = empty([N, C, H, W], name);
  rt().dispatch({
    kernel: COL2IM,
    overrides: { C, H, W, OH, OW, KH: kH, KW: kW, STRIDE: stride, PAD: pad, HAS_RESIDUAL: residual !== undefined },
    params: { total: dx.size },
    buffers: { cols, res: residual ?? cols, dx },
    groups: grid(cdiv(dx.size, 256)),
  });
  cols.dispose();
  return dx;
}

/**
 * The three passes as recorded ops. Each is bilinear, and each one's backward is made of the others, so
 * gradients of any order stay convolutions: with y = conv(x, w), <u, inputGrad(dy, w)> = <conv(u, w), dy> and
 * <v, weightGrad(x, dy)> = <conv(x, v), dy>; the bias gradient (a channel sum) has a broadcast for backward.
 */
function forward(g: Geometry, x: Tensor, w: Tensor, bias?: Tensor, residual?: Tensor, relu = false): Tensor {
  const y = gatherConv(g, x, w, bias, false, relu ? 'conv2d_relu' : 'conv2d', residual, relu);
  const inputs = [x, w, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  // The input gradient adds the tape's running sum for x while it stores (a residual block's two paths).
  record('conv2d', inputs, y, (dout, needs, prev) => {
    // The gradient of the pre-activation: recorded, so that it can be differentiated again.
    const dy = relu ? reluGrad(dout, y) : dout;
    return [
      needs[0] ? accumulated(prev[0], (r) => inputGrad(g, dy, w, r)) : null,
      needs[1] ? weightGrad(g, x, dy) : null,
      ...(bias ? [needs[2] ? biasGrad(g, dy) : null] : []),
      ...(residual ? [needs[inputs.length - 1] ? dy : null] : []),
    ];
  });
  return y;
}

/** conv's input gradient for dy, plus `residual` (a tensor of x's shape) when given. */
function inputGrad(g: Geometry, dy: Tensor, w: Tensor, residual?: Tensor): Tensor {
  const dx = gatherConv(g, dy, w, undefined, true, 'dx', residual);
  record('conv2dInputGrad', residual ? [dy, w, residual] : [dy, w], dx, (u, needs) => [
    needs[0] ? forward(g, u, w) : null,
    needs[1] ? weightGrad(g, u, dy) : null,
    ...(residual ? [needs[2] ? u : null] : []),
  ]);
  return dx;
}

function weightGrad(g: Geometry, x: Tensor, dy: Tensor): Tensor {
  const dw = weightGradKernel(g, x, dy);
  record('conv2dWeightGrad', [x, dy], dw, (v, needs) => [
    needs[0] ? inputGrad(g, dy, v) : null,
    needs[1] ? forward(g, x, v) : null,
  ]);
  return dw;
}

function biasGrad(g: Geometry, dy: Tensor): Tensor {
  const db = biasGradKernel(g, dy);
  record('conv2dBiasGrad', [dy], db, (u) => [channelBroadcast(u, dy.shape)]);
  return db;
}

/** The weight gradient [Cout, C, kH, kW] by split-K: per-chunk partial sums, then one reduction. */
function weightGradKernel(g: Geometry, x: Tensor, dy: Tensor): Tensor {
  const { Cout, C, kH, kW } = g;
  const dw = empty([Cout, C, kH, kW], 'dw');
  const S = Cout * C * kH * kW;
  // Writes the partial sums of `chunks` chunks into the buffer it gets, then they are added up into dw.
  const chunked = (chunks: number, write: (part: Tensor) => void): Tensor => {
    const part = chunks === 1 ? dw : empty([chunks, S], 'dw_partials');
    write(part);
    if (part !== dw) {
      reduce(part, dw, S, chunks, 1, S);
      part.dispose();
    }
    return dw;
  };
  if (kernelVariant() === 'tiled') {
    const K = g.N * g.OH * g.OW;
    const kChunk = weightGradChunk(Cout, C * kH * kW, K);
    return chunked(cdiv(K, kChunk), (part) =>
      tiledGemm({
        mode: GemmMode.ConvWeightGrad,
        family: 'conv-weight-grad',
        M: Cout,
        N: C * kH * kW,
        K,
        a: dy,
        b: x,
        c: part,
        kChunk,
        geometry: g,
      }),
    );
  }
  return registerWeightGrad(g, x, dy, chunked);
}

/**
 * conv2d_wgrad.wgsl: chunks of output rows (n, oh) per workgroup, every tap and CG groups of RB input channels
 * per workgroup: few workgroups, as lavapipe pays per workgroup, and few chunks, whose partial sums cost a pass of
 * their own (bench/results/kernel-tuning.md).
 */
function registerWeightGrad(
  g: Geometry,
  x: Tensor,
  dy: Tensor,
  chunked: (chunks: number, write: (part: Tensor) => void) => Tensor,
): Tensor {
  const { N, C, H, W, Cout, kH, kW, OH, OW, stride, pad } = g;
  const CB = channelBlock(Cout);
  const kk = kH * kW;
  // One workgroup holds every tap: WebGPU's default limit is 256 invocations.
  if (kk > 256)
    fail(
      'conv2d',
      `the weight gradient of a ${kH}x${kW} kernel needs ${kk} invocations per workgroup, more than 256; use ADVFREE_KERNELS=tiled`,
    );
  // The most input channels per invocation (<= 8) that still leave 16 invocations for the taps x channel groups:
  // the largest register block that lavapipe does not spill (bench/results/kernel-tuning.md, bench/roofline.ts),
  // and no more than the channels there are (a first layer's one channel would compute 7 clamped duplicates).
  let RB = Math.min(8, 2 ** Math.ceil(Math.log2(C)));
  while (RB > 1 && kk * cdiv(C, RB) < 16) RB /= 2;
  const CG = Math.max(1, Math.min(Math.floor(256 / kk), cdiv(C, RB)));
  const cBlocks = cdiv(C, CG * RB);
  const coBlocks = cdiv(Cout, CB);
  const rows = N * OH;
  const perChunk = cBlocks * coBlocks;
  const chunks = Math.max(1, Math.min(cdiv(16, perChunk), Math.floor((rows * OW) / 256), rows));
  const rowsPerChunk = cdiv(rows, chunks);
  const nChunks = cdiv(rows, rowsPerChunk);
  return chunked(nChunks, (part) =>
    rt().dispatch({
      kernel: WGRAD,
      overrides: {
        CB,
        RB,
        CG,
        KK: kk,
        WG: kk * CG,
        OUT_H: OH,
        OUT_W: OW,
        SRC_H: H,
        SRC_W: W,
        SRC_C: C,
        OUT_C: Cout,
        KW: kW,
        STRIDE: stride,
        PAD: pad,
      },
      params: { rows, rowsPerChunk },
      buffers: { x, dy, part },
      groups: [nChunks, cBlocks, coBlocks],
    }),
  );
}

function reduce(src: Tensor, out: Tensor, count: number, L: number, strideI: number, strideK: number): void {
  rt().dispatch({
    kernel: REDUCE,
    params: { count, L, strideI, strideK },
    buffers: { src, out },
    groups: grid(cdiv(count, 64)),
  });
}

/** The bias gradient: sums of dy over each (n, co) plane, then over the batch. */
function biasGradKernel(g: Geometry, dy: Tensor): Tensor {
  const { N, Cout, OH, OW } = g;
  const planes = empty([N, Cout], 'db_planes');
  reduce(dy, planes, N * Cout, OH * OW, OH * OW, 1);
  const db = empty([Cout], 'db');
  reduce(planes, db, Cout, N, 1, Cout);
  planes.dispose();
  return db;
}

function checkArgs(op: string, x: Tensor, w: Tensor): void {
  checkRank(op, "input 'x' (NCHW)", x, 4);
  checkRank(op, "weight 'w' [Cout,C,kH,kW]", w, 4);
  checkDtype(op, "input 'x'", x, 'f32');
  checkDtype(op, "weight 'w'", w, 'f32');
}

/**
 * 2-D convolution of x [N,C,H,W] with w [Cout,C,kH,kW] (cross-correlation, zero padding): the output is
 * [N, Cout, OH, OW] with OH = floor((H + 2·padding − kH) / stride) + 1.
 */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  checkArgs(op, x, w);
  const g = geometry(op, x.shape, w.shape, opts.stride ?? 1, opts.padding ?? 0);
  const { bias } = opts;
  if (bias) {
    checkDtype(op, "bias 'b'", bias, 'f32');
    if (bias.rank !== 1 || bias.shape[0] !== g.Cout)
      fail(op, `bias ${bias.describe()} must be [${g.Cout}] for weight 'w' ${fmt(w.shape)}`);
  }
  const { residual } = opts;
  if (residual) {
    checkDtype(op, "residual 'r'", residual, 'f32');
    const want = [g.N, g.Cout, g.OH, g.OW];
    if (residual.rank !== 4 || residual.shape.some((d, i) => d !== want[i])) {
      fail(
        op,
        `residual ${residual.describe()} must have the output's shape ${fmt(want)} (input ${x.describe()}, weight ${fmt(w.shape)})`,
      );
    }
  }
  return forward(g, x, w, bias, residual, opts.relu ?? false);
}

/**
 * The gradient of conv2d with respect to its input, for an input of shape xShape (a transposed convolution).
 * Differentiable in dy and w, like conv2dWeightGrad in dy and x.
 */
export function conv2dInputGrad(
  dy: Tensor,
  w: Tensor,
  xShape: Shape,
  opts: Pick<Conv2dOptions, 'stride' | 'padding'> = {},
): Tensor {
  const op = 'conv2dInputGrad';
  checkRank(op, "weight 'w' [Cout,C,kH,kW]", w, 4);
  if (xShape.length !== 4) fail(op, `input shape ${fmt(xShape)} must have rank 4`);
  const g = geometry(op, xShape, w.shape, opts.stride ?? 1, opts.padding ?? 0);
  checkGradShape(op, dy, g);
  return inputGrad(g, dy, w);
}

/** The gradient of conv2d with respect to its weight, for a weight of shape wShape. */
export function conv2dWeightGrad(
  dy: Tensor,
  x: Tensor,
  wShape: Shape,
  opts: Pick<Conv2dOptions, 'stride' | 'padding'> = {},
): Tensor {
  const op = 'conv2dWeightGrad';
  checkRank(op, "input 'x' (NCHW)", x, 4);
  if (wShape.length !== 4) fail(op, `weight shape ${fmt(wShape)} must have rank 4`);
  const g = geometry(op, x.shape, wShape, opts.stride ?? 1, opts.padding ?? 0);
  checkGradShape(op, dy, g);
  return weightGrad(g, x, dy);
}

function checkGradShape(op: string, dy: Tensor, g: Geometry): void {
  checkDtype(op, "output gradient 'dy'", dy, 'f32');
  const want = [g.N, g.Cout, g.OH, g.OW];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i]))
    fail(op, `output gradient ${dy.describe()} must be ${fmt(want)}`);
}
