// How a WGSL kernel is described to the runtime. The WGSL convention every shader follows:
//   @group(0) @binding(0) var<uniform> p: Params;   // only when `params` is non-empty; fields in this order
//   @group(0) @binding(1..) storage buffers, in the order of `Dispatch.buffers`
// Variants are WGSL `override` constants, chosen per dispatch by TypeScript (one pipeline per variant).

/** Families used by dispatch counters and the benchmarks' per-kernel breakdown. */
export type KernelFamily =
  | 'matmul'
  | 'conv-forward'
  | 'conv-input-grad'
  | 'conv-weight-grad'
  | 'weight-grad'
  | 'batchnorm'
  | 'elementwise'
  | 'reduction'
  | 'loss'
  | 'optimizer'
  | 'random';

export type ParamType = 'u32' | 'i32' | 'f32';

export interface KernelSpec {
  /** Unique name; appears in pipeline labels, errors, counters and profiles. */
  readonly name: string;
  readonly family: KernelFamily;
  readonly source: string;
  /** Uniform struct fields in WGSL order, as 'name:type' (all 4-byte scalars). */
  readonly params?: readonly `${string}:${ParamType}`[];
  /** Entry point; default 'main'. */
  readonly entry?: string;
}

export function kernel(spec: KernelSpec): KernelSpec {
  return spec;
}

/** Anything that owns a storage buffer: a Tensor, or a raw GPUBuffer. */
export type Bindable = GPUBuffer | { readonly buffer: GPUBuffer };

export interface Dispatch {
  kernel: KernelSpec;
  overrides?: Record<string, number | boolean>;
  params?: Record<string, number>;
  buffers: readonly Bindable[];
  /** Workgroup counts; use `grid()` for 1-D problems that may exceed the per-dimension limit. */
  groups: readonly [number, number?, number?];
  /** Overrides the family used for counting (e.g. a matmul that computes a weight gradient). */
  family?: KernelFamily;
}

/** WebGPU's default and (on most adapters) actual per-dimension workgroup-count limit. */
export const MAX_GROUPS_PER_DIM = 65535;

/**
 * Spreads `count` workgroups over x and y so neither exceeds the per-dimension limit. Shaders recover the
 * linear index as `wid.x + wid.y * nwg.x` and must bounds-check it, since x·y may exceed `count`.
 */
export function grid(count: number): [number, number] {
  if (count <= MAX_GROUPS_PER_DIM) return [Math.max(1, count), 1];
  const y = Math.ceil(count / MAX_GROUPS_PER_DIM);
  return [Math.ceil(count / y), y];
}

export const cdiv = (a: number, b: number): number => Math.ceil(a / b);
