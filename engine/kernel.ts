// How a WGSL kernel is described to the runtime: its uniforms and its storage buffers are declared once, here in
// TypeScript, and the WGSL declarations are generated from that (see `wgslPrelude`): a .wgsl file holds only
// override constants, functions and entry points, and refers to the uniforms as `p.NAME` and to each buffer by
// its declared name. Bindings: 0 is the uniform struct (when there are params), 1.. the buffers in declaration
// order. A dispatch passes its buffers by name and the runtime checks the names against the declaration.
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
  | 'random'
  /** The benchmarks' probes of the adapter's FMA and bandwidth ceilings. */
  | 'roofline';

export type ParamType = 'u32' | 'i32' | 'f32';
/** A storage buffer: its access and element type, e.g. 'read f32' or 'read_write vec4f'. */
export type BufferDecl = `${'read' | 'read_write'} ${'f32' | 'i32' | 'u32' | 'vec4f'}`;

export type Params = Record<string, number>;
export type Overrides = Record<string, number | boolean>;
export type Groups = readonly [number, number?, number?];
/** A cost model of one dispatch from its uniforms, override constants and workgroup counts. */
export type CostFn = (p: Params, o: Overrides, groups: Groups) => number;

/** The uniforms (and helper functions) shared by every entry point of one .wgsl file. */
export interface Shader {
  readonly source: string;
  /** Uniform struct fields in order, as 'name:type' (all 4-byte scalars). */
  readonly params: readonly `${string}:${ParamType}`[];
  readonly kernels: KernelSpec[];
}

export interface KernelSpec {
  /** Unique name; appears in pipeline labels, errors, counters and profiles. */
  readonly name: string;
  readonly family: KernelFamily;
  readonly shader: Shader;
  /** Entry point; default 'main'. */
  readonly entry: string;
  /** Storage buffers by WGSL name, in binding order (1, 2, ...). */
  readonly buffers: Readonly<Record<string, BufferDecl>>;
  /** Nominal FLOPs, 2 per multiply-add of the GEMM computed; only for arithmetic-bound (GEMM-like) kernels. */
  readonly flops?: CostFn;
  /** Bytes the kernel reads and writes in global memory by design; for memory-bound kernels. */
  readonly bytes?: CostFn;
}

export interface KernelDecl {
  name: string;
  family: KernelFamily;
  entry?: string;
  buffers: Record<string, BufferDecl>;
  flops?: CostFn;
  bytes?: CostFn;
}

/** A .wgsl file with its uniforms; declare its entry points with `.kernel(...)`. */
export function shader(source: string, params: Shader['params'] = []) {
  const s: Shader = { source, params, kernels: [] };
  return {
    kernel(d: KernelDecl): KernelSpec {
      const k: KernelSpec = { ...d, entry: d.entry ?? 'main', shader: s };
      s.kernels.push(k);
      return k;
    },
  };
}

/** A .wgsl file with a single entry point. */
export function kernel(d: KernelDecl & { source: string; params?: Shader['params'] }): KernelSpec {
  const { source, params, ...rest } = d;
  return shader(source, params).kernel(rest);
}

/**
 * The declarations prepended to a shader's source: `struct Params` and its uniform, every buffer of every entry
 * point of the file (entry points may give one binding number to different buffers: WGSL allows that when no
 * entry point uses both), and `group_index`, the linear workgroup index of a `grid()` dispatch.
 */
export function wgslPrelude(s: Shader): string {
  const lines: string[] = [];
  if (s.params.length) {
    lines.push(`struct Params { ${s.params.map((f) => f.replace(':', ': ')).join(', ')} }`);
    lines.push('@group(0) @binding(0) var<uniform> p: Params;');
  }
  const seen = new Map<string, string>();
  for (const k of s.kernels) {
    Object.entries(k.buffers).forEach(([name, decl], i) => {
      const [access, type] = decl.split(' ');
      const line = `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: array<${type}>;`;
      const prev = seen.get(name);
      if (prev !== undefined && prev !== line) {
        throw new Error(
          `advfree: kernel ${k.name}: buffer '${name}' is declared differently by another entry point of its shader (${prev})`,
        );
      }
      if (prev === undefined) lines.push(line);
      seen.set(name, line);
    });
  }
  lines.push('fn group_index(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }');
  return lines.join('\n') + '\n';
}

/** Anything that owns a storage buffer: a Tensor, or a raw GPUBuffer. */
export type Bindable = GPUBuffer | { readonly buffer: GPUBuffer };

export interface Dispatch {
  kernel: KernelSpec;
  overrides?: Overrides;
  params?: Params;
  /** Every buffer the kernel declares, by name. */
  buffers: Readonly<Record<string, Bindable>>;
  /** Workgroup counts; use `grid()` for 1-D problems that may exceed the per-dimension limit. */
  groups: Groups;
  /** Overrides the family used for counting (e.g. a matmul that computes a weight gradient). */
  family?: KernelFamily;
}

/** WebGPU's default and (on most adapters) actual per-dimension workgroup-count limit. */
export const MAX_GROUPS_PER_DIM = 65535;

/**
 * Spreads `count` workgroups over x and y so neither exceeds the per-dimension limit. Shaders recover the
 * linear index as `group_index(wid, nwg)` and must bounds-check it, since x·y may exceed `count`.
 */
export function grid(count: number): [number, number] {
  if (count <= MAX_GROUPS_PER_DIM) return [Math.max(1, count), 1];
  const y = Math.ceil(count / MAX_GROUPS_PER_DIM);
  return [Math.ceil(count / y), y];
}

export const cdiv = (a: number, b: number): number => Math.ceil(a / b);

/** The nominal FLOPs and bytes of a dispatch; 0 where the kernel declares none. */
export function dispatchCost(d: Dispatch): { flops: number; bytes: number } {
  const p = d.params ?? {};
  const o = d.overrides ?? {};
  return { flops: d.kernel.flops?.(p, o, d.groups) ?? 0, bytes: d.kernel.bytes?.(p, o, d.groups) ?? 0 };
}
