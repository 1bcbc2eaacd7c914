// The workgroup-memory tiled GEMM (shaders/gemm_tiled.wgsl) that matmul and the convolution passes use on
// hardware GPUs, and the choice between it and the register-blocked kernels (matmul.wgsl, conv2d*.wgsl) that
// run fastest on software adapters like lavapipe, where barriers and workgroup memory are expensive.
import src from '../../shaders/gemm_tiled.wgsl';
import { rt } from '../context.js';
import { cdiv, kernel, type KernelFamily, type Params } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export const enum GemmMode {
  Matmul = 0,
  ConvForward = 1,
  ConvInputGrad = 2,
  ConvWeightGrad = 3,
}

const TILE = 64;
const TILE_K = 16;

const TILED = kernel({
  name: 'gemm_tiled',
  family: 'matmul',
  source: src,
  params: [
    'M:u32',
    'N:u32',
    'K:u32',
    'strideA:u32',
    'strideB:u32',
    'strideC:u32',
    'C:u32',
    'H:u32',
    'W:u32',
    'Cout:u32',
    'OH:u32',
    'OW:u32',
    'kH:u32',
    'kW:u32',
    'stride:u32',
    'pad:u32',
    'kChunk:u32',
  ],
  buffers: { a: 'read f32', b: 'read f32', bias: 'read f32', res: 'read f32', c: 'read_write f32' },
  // 2·M·N·K, except the input gradient: its K visits every tap, but a convolution pass counts
  // 2·N·OH·OW·Cout·C·kH·kW, which is M·N·K·(OH·OW)/(H·W) for M = N·H·W.
  flops: (p, o, g) => {
    const mnk = 2 * p.M * p.N * p.K;
    if (o.MODE === GemmMode.ConvInputGrad) return (mnk * p.OH * p.OW) / (p.H * p.W);
    return o.MODE === GemmMode.Matmul ? mnk * (g[2] ?? 1) : mnk;
  },
});

export type KernelVariant = 'tiled' | 'register';

/** ADVFREE_KERNELS=tiled|register forces a variant; otherwise software adapters get 'register', GPUs 'tiled'. */
export function kernelVariant(): KernelVariant {
  const v = process.env.ADVFREE_KERNELS;
  if (v === 'tiled' || v === 'register') return v;
  if (v) throw new Error(`advfree: ADVFREE_KERNELS must be 'tiled' or 'register', got '${v}'`);
  return rt().gpu.description.software ? 'register' : 'tiled';
}

/** Convolution geometry (unused by matmul: zeros). */
export interface GemmGeometry {
  C: number;
  H: number;
  W: number;
  Cout: number;
  OH: number;
  OW: number;
  kH: number;
  kW: number;
  stride: number;
  pad: number;
}

const NO_GEOMETRY: GemmGeometry = { C: 0, H: 0, W: 0, Cout: 0, OH: 0, OW: 0, kH: 0, kW: 0, stride: 1, pad: 0 };

export interface GemmDispatch {
  mode: GemmMode;
  family: KernelFamily;
  M: number;
  N: number;
  K: number;
  a: Tensor;
  b: Tensor;
  bias?: Tensor;
  /** Matmul and conv forward: a ReLU applied last in the store (after the bias and the residual). */
  relu?: boolean;
  /** Conv forward and input gradient: added to the output (a tensor of its shape) while it is stored. */
  residual?: Tensor;
  c: Tensor;
  /** Matmul: batch entries and their strides (0 broadcasts an operand). */
  batch?: number;
  strides?: { A: number; B: number; C: number };
  transA?: boolean;
  transB?: boolean;
  geometry?: GemmGeometry;
  /** Weight gradient: K split into chunks of this many (a multiple of the tile depth), one per workgroup z. */
  kChunk?: number;
}

export function tiledGemm(d: GemmDispatch): void {
  const s = d.strides ?? { A: 0, B: 0, C: 0 };
  const chunks = d.kChunk ? cdiv(d.K, d.kChunk) : (d.batch ?? 1);
  // The GEMM's M, N, K come after the geometry, whose N (a batch, in conv2d.ts's Geometry) they must override.
  const params: Params = {
    ...(d.geometry ?? NO_GEOMETRY),
    M: d.M,
    N: d.N,
    K: d.K,
    strideA: s.A,
    strideB: s.B,
    strideC: s.C,
    kChunk: d.kChunk ?? 0,
  };
  rt().dispatch({
    kernel: TILED,
    family: d.family,
    overrides: {
      MODE: d.mode,
      TA: d.transA ?? false,
      TB: d.transB ?? false,
      HAS_BIAS: d.bias !== undefined,
      HAS_RESIDUAL: d.residual !== undefined,
      RELU: d.relu ?? false,
    },
    params,
    // Without a bias or a residual the binding is unused: any read-only buffer fills it.
    buffers: { a: d.a, b: d.b, bias: d.bias ?? d.a, res: d.residual ?? d.a, c: d.c },
    groups: [cdiv(d.N, TILE), cdiv(d.M, TILE), chunks],
  });
}

/** Split-K chunks for a weight gradient: enough workgroups to fill a GPU, each K chunk a multiple of the tile depth. */
export function weightGradChunk(M: number, N: number, K: number): number {
  const tiles = cdiv(M, TILE) * cdiv(N, TILE);
  const chunks = Math.max(1, Math.min(cdiv(256, tiles), Math.floor(K / 256)));
  return cdiv(cdiv(K, chunks), TILE_K) * TILE_K;
}
