// The adapter's own ceilings, measured in the same run as the kernels they judge: the FMA rate of a kernel that
// keeps independent fma chains in registers (best of a few shapes), and the bandwidth of a vec4 copy (best of
// a few sizes). A kernel that declares FLOPs is shown as a fraction of the FMA ceiling, one that declares bytes
// as a fraction of the bandwidth ceiling (engine/kernel.ts). Beside them, the fed probes: the conv kernels' own
// inner loop (a register block fed by loads from cache, no index arithmetic), the rate a GEMM-like kernel of
// that structure can reach here, and the same with vec4 pixel loads (what a channels-last or vec4-pixel
// layout would buy).
import src from '../shaders/roofline.wgsl';
import { empty, fill, rt, type Tensor } from '../engine/index.js';
import { cdiv, grid, shader, type CostFn } from '../engine/kernel.js';
import type { Timing } from '../engine/profile.js';

const ROOF = shader(src, ['iters:u32', 'a:f32', 'b:f32', 'quads:u32']);
const FMA = ROOF.kernel({
  name: 'roofline_fma',
  family: 'roofline',
  entry: 'fma_peak',
  buffers: { sink: 'read_write f32' },
  flops: (p, o, g) => 2 * Number(o.CHAINS) * p.iters * Number(o.WG) * g[0] * (g[1] ?? 1),
});
// sink keeps binding 1, as in fma_peak (one declaration per name in a shader).
const fedFlops: CostFn = (p, o, g) => 2 * Number(o.PB) * Number(o.CB) * p.iters * Number(o.WG) * g[0] * (g[1] ?? 1);
const FED = ROOF.kernel({
  name: 'roofline_fed',
  family: 'roofline',
  entry: 'fed',
  buffers: { sink: 'read_write f32', xs: 'read f32', ws: 'read f32' },
  flops: fedFlops,
});
const FED4 = ROOF.kernel({
  name: 'roofline_fed4',
  family: 'roofline',
  entry: 'fed4',
  buffers: { sink: 'read_write f32', xs4: 'read vec4f', ws: 'read f32' },
  flops: fedFlops,
});
const COPY = ROOF.kernel({
  name: 'roofline_copy',
  family: 'roofline',
  entry: 'copy',
  buffers: { src: 'read vec4f', dst: 'read_write vec4f' },
  bytes: (p) => 32 * p.quads,
});

export interface RooflineConfig {
  /** Steps of every fma chain. */
  iters: number;
  /** Sizes of the copied buffer, in bytes. */
  copyBytes: number[];
  reps: number;
}

export interface Probe {
  name: string;
  /** Per dispatch. */
  flops: number;
  bytes: number;
  /** Median wall milliseconds per dispatch. */
  ms: number;
  /** GFLOP/s for the FMA probes, GB/s for the copies. */
  rate: number;
}

export interface Roofline {
  /** The best FMA probe, GFLOP/s. */
  gflops: number;
  /** The best fed probe with scalar gathers (the conv kernels' loop), GFLOP/s. */
  fed: number;
  /** The best fed probe with vec4 pixel loads, GFLOP/s. */
  fed4: number;
  /** The best copy, GB/s. */
  gbs: number;
  probes: Probe[];
}

/** Invocations of every FMA shape: enough workgroups to fill every core. */
const INVOCATIONS = 16384;
const FMA_SHAPES = [
  { CHAINS: 16, WG: 64 },
  { CHAINS: 32, WG: 64 },
  { CHAINS: 16, WG: 256 },
  { CHAINS: 32, WG: 256 },
];
/**
 * Register blocks (pixels x channels) of the fed probes: the conv kernels' 8 x 16, smaller ones, and 16 x 16, where
 * lavapipe spills the block (4-5 GFLOP/s measured, against 18-20 at 8 x 16: the larger blocks a GPU kernel would
 * use do not pay here). The vec4 variant only for blocks that fit.
 */
const FED_SHAPES = [
  { PB: 8, CB: 16 },
  { PB: 8, CB: 8 },
  { PB: 4, CB: 8 },
  { PB: 4, CB: 16 },
  { PB: 16, CB: 16 },
];
/** The fed probes' buffer: 256 KiB, in cache. */
const FED_QUADS = 16384;
/** Steps of a fed probe per fma-chain step: a block of 128 FMAs per load step does 4x the work of 32 chains. */
const FED_ITERS_DIVISOR = 8;
/** Dispatches per timed sample, so a sample's submit and wait cost little against its work. */
const PER_SAMPLE = 4;

interface Runner {
  name: string;
  flops: number;
  bytes: number;
  run(): void;
  times: number[];
}

function fmaRunner(shape: { CHAINS: number; WG: number }, iters: number, sink: Tensor): Runner {
  const groups = grid(INVOCATIONS / shape.WG);
  const params = { iters, a: 0.999, b: 1e-3, quads: 0 };
  return {
    name: `fma ${shape.CHAINS} chains, workgroup ${shape.WG}`,
    flops: FMA.flops!(params, shape, groups),
    bytes: 0,
    run: () => rt().dispatch({ kernel: FMA, overrides: shape, params, buffers: { sink }, groups }),
    times: [],
  };
}

function fedRunner(vec4: boolean, shape: { PB: number; CB: number }, iters: number, xs: Tensor, sink: Tensor): Runner {
  const overrides = { ...shape, WG: 64 };
  const groups = grid(INVOCATIONS / 64);
  const params = { iters: Math.max(1, Math.round(iters / FED_ITERS_DIVISOR)), a: 0, b: 0, quads: FED_QUADS };
  const k = vec4 ? FED4 : FED;
  return {
    name: `fed ${shape.PB}x${shape.CB} block, ${vec4 ? 'vec4 pixel loads' : 'scalar gathers'}`,
    flops: k.flops!(params, overrides, groups),
    bytes: 0,
    run: () =>
      rt().dispatch({
        kernel: k,
        overrides,
        params,
        buffers: vec4 ? { xs4: xs, ws: xs, sink } : { xs, ws: xs, sink },
        groups,
      }),
    times: [],
  };
}

const copyParams = (bytes: number) => ({ iters: 0, a: 0, b: 0, quads: bytes / 16 });

/** A dispatch of the vec4 copy of `bytes` (a multiple of 16) from `from` to `to`. */
export const copyProbe = (bytes: number, from: Tensor, to: Tensor) => (): void =>
  rt().dispatch({
    kernel: COPY,
    overrides: { WG: 64 },
    params: copyParams(bytes),
    buffers: { src: from, dst: to },
    groups: grid(cdiv(bytes / 16, 64)),
  });

function copyRunner(bytes: number, from: Tensor, to: Tensor): Runner {
  return {
    name: `copy ${(bytes / 2 ** 20).toFixed(0)} MiB (vec4)`,
    flops: 0,
    bytes: COPY.bytes!(copyParams(bytes), {}, [0]),
    run: copyProbe(bytes, from, to),
    times: [],
  };
}

/** Times every probe `reps` times, alternating between them so a machine shared with others hits all alike. */
export async function measureRoofline(c: RooflineConfig): Promise<Roofline> {
  const maxBytes = Math.max(...c.copyBytes);
  const sink = empty([INVOCATIONS], 'roofline_sink');
  const from = empty([maxBytes / 4], 'roofline_src');
  const to = empty([maxBytes / 4], 'roofline_dst');
  // Small normal values: garbage from the pool could hold denormals, which some CPUs run slowly.
  const fedData = fill([4 * FED_QUADS], 0.5, 'roofline_fed');
  const runners = [
    ...FMA_SHAPES.map((s) => fmaRunner(s, c.iters, sink)),
    ...c.copyBytes.map((b) => copyRunner(b, from, to)),
    ...[false, true].flatMap((v) =>
      FED_SHAPES.filter((s) => !v || s.PB * s.CB <= 128).map((s) => fedRunner(v, s, c.iters, fedData, sink)),
    ),
  ];
  try {
    for (const r of runners) r.run(); // compiles the pipelines
    await rt().sync();
    for (let rep = 0; rep < c.reps; rep++) {
      for (const r of runners) {
        const t0 = performance.now();
        for (let i = 0; i < PER_SAMPLE; i++) r.run();
        await rt().sync();
        r.times.push((performance.now() - t0) / PER_SAMPLE);
      }
    }
  } finally {
    for (const t of [sink, from, to, fedData]) t.dispose();
  }
  const probes = runners.map((r) => {
    const sorted = [...r.times].sort((a, b) => a - b);
    const ms = sorted[sorted.length >> 1];
    return { name: r.name, flops: r.flops, bytes: r.bytes, ms, rate: (r.flops || r.bytes) / ms / 1e6 };
  });
  const best = (pick: (p: Probe) => boolean) => Math.max(...probes.filter(pick).map((p) => p.rate));
  return {
    gflops: best((p) => p.name.startsWith('fma')),
    fed: best((p) => p.name.startsWith('fed') && p.name.endsWith('gathers')),
    fed4: best((p) => p.name.startsWith('fed') && p.name.endsWith('loads')),
    gbs: best((p) => p.bytes > 0),
    probes,
  };
}

/**
 * A timing as a fraction of its ceiling: GFLOP/s over the FMA ceiling where the kernels declare FLOPs, else
 * GB/s over the copy's; null where they declare neither.
 */
export function ceilingFraction(
  t: Timing,
  roof: Roofline,
): { bound: 'fma' | 'bandwidth'; rate: number; fraction: number } | null {
  if (!t.ms) return null;
  if (t.flops) {
    const rate = t.flops / t.ms / 1e6;
    return { bound: 'fma', rate, fraction: rate / roof.gflops };
  }
  if (t.bytes) {
    const rate = t.bytes / t.ms / 1e6;
    return { bound: 'bandwidth', rate, fraction: rate / roof.gbs };
  }
  return null;
}
