// Records kernel dispatches into one shared command encoder and submits them in batches; caches one compute
// pipeline per (kernel, override constants), one shader module per .wgsl file (its generated declarations
// prepended) and, per pipeline, the bind groups of the buffers it was given; packs every dispatch's uniforms into
// one arena buffer that is uploaded once per submit, bound at a dynamic offset. A readback flushes.
import { Gpu, type GpuOptions } from './gpu.js';
import { BufferPool } from './pool.js';
import {
  wgslPrelude,
  type Bindable,
  type Dispatch,
  type KernelFamily,
  type KernelSpec,
  type Overrides,
  type Shader,
} from './kernel.js';

/** The profiling hook (engine/profile.ts): while one is set, each dispatch gets its own timed compute pass. */
export interface DispatchTimer {
  /** Timestamp writes for the pass that holds `d` alone. */
  begin(d: Dispatch, family: KernelFamily): GPUComputePassTimestampWrites;
  /** Records the resolve of the batch's timestamps into its encoder, just before it is finished. */
  resolve(encoder: GPUCommandEncoder): void;
  /** The batch was submitted. */
  submitted(): void;
}

export interface RuntimeOptions extends GpuOptions {
  /** Dispatches recorded before an automatic submit. Default: ADVFREE_BATCH or 32. */
  batchSize?: number;
}

export interface DispatchCounters {
  total: number;
  byKernel: Record<string, number>;
  byFamily: Partial<Record<KernelFamily, number>>;
  /** Queue submits (command buffers). */
  submits: number;
  /** Readbacks to the host (each one waits for the GPU). */
  reads: number;
}

/**
 * Host milliseconds spent in the runtime's parts of recording (the benchmarks' breakdown of a step's host time;
 * measured only while `setHostTiming(true)`): the rest of a step's host time is the ops' and the tape's own code.
 */
export interface HostTimes {
  /** createBindGroup, one per dispatch. */
  bindGroups: number;
  /** Pipeline lookup, uniforms packed into the arena, pass and dispatch commands. */
  encode: number;
  /** Uniform upload, command buffer finish and queue submit. */
  submit: number;
  /** Buffer pool: acquire and release. */
  pool: number;
}

const noCounts = (): DispatchCounters => ({ total: 0, byKernel: {}, byFamily: {}, submits: 0, reads: 0 });

const ARENA_BYTES = 64 * 1024;

interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Bind groups made for this pipeline, by the ids of their buffers. */
  bindGroups: Map<string, GPUBindGroup>;
}

/** Bind groups kept per pipeline before that pipeline's are dropped (a step of gradalign on wrn-16-1 binds 144 for one). */
const BIND_GROUPS_PER_PIPELINE = 256;

export class Runtime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly batchSize: number;
  private readonly modules = new Map<Shader, GPUShaderModule>();
  private readonly pipelines = new Map<string, PipelineEntry>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batch: string[] = [];
  private readonly arena: GPUBuffer;
  private readonly arenaData = new ArrayBuffer(ARENA_BYTES);
  private readonly arenaU32 = new Uint32Array(this.arenaData);
  private readonly arenaI32 = new Int32Array(this.arenaData);
  private readonly arenaF32 = new Float32Array(this.arenaData);
  private arenaUsed = 0;
  private readonly align: number;
  private counts: DispatchCounters = noCounts();
  private timer: DispatchTimer | null = null;
  /** While non-null, host time of the runtime's parts accumulates here. */
  hostTimes: HostTimes | null = null;
  submits = 0;

  constructor(
    readonly gpu: Gpu,
    opts: RuntimeOptions = {},
  ) {
    this.device = gpu.device;
    this.pool = new BufferPool(
      this.device,
      (e) => gpu.report(e),
      () => this.forgetBindGroups(),
    );
    this.batchSize = opts.batchSize ?? (Number(process.env.ADVFREE_BATCH) || 32);
    this.align = this.device.limits.minUniformBufferOffsetAlignment;
    this.arena = this.device.createBuffer({
      size: ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-arena',
    });
  }

  private pipeline(kernel: KernelSpec, overrides?: Overrides): PipelineEntry {
    const key = overrides ? `${kernel.name}|${JSON.stringify(overrides)}` : kernel.name;
    let entry = this.pipelines.get(key);
    if (entry) return entry;
    let module = this.modules.get(kernel.shader);
    if (!module) {
      module = this.device.createShaderModule({
        code: wgslPrelude(kernel.shader) + kernel.shader.source,
        label: kernel.name,
      });
      this.modules.set(kernel.shader, module);
    }
    const constants: Record<string, number> = {};
    for (const [k, v] of Object.entries(overrides ?? {})) constants[k] = Number(v);
    const layout = this.layout(kernel);
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: kernel.name }),
      compute: { module, entryPoint: kernel.entry, constants },
    });
    entry = { pipeline, layout, bindGroups: new Map() };
    this.pipelines.set(key, entry);
    return entry;
  }

  private readonly layouts = new Map<KernelSpec, GPUBindGroupLayout>();

  /**
   * The kernel's bind group layout, from its declaration: the uniforms at binding 0 with a dynamic offset into the
   * arena (so that a bind group serves a dispatch wherever its uniforms land), the buffers at 1.. .
   */
  private layout(kernel: KernelSpec): GPUBindGroupLayout {
    let layout = this.layouts.get(kernel);
    if (layout) return layout;
    const entries: GPUBindGroupLayoutEntry[] = Object.values(kernel.buffers).map((decl, i) => ({
      binding: i + 1,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: decl.startsWith('read_write') ? 'storage' : 'read-only-storage' },
    }));
    if (kernel.shader.params.length)
      entries.push({
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true },
      });
    layout = this.device.createBindGroupLayout({ entries, label: kernel.name });
    this.layouts.set(kernel, layout);
    return layout;
  }

  /** Packs `params` into the uniform arena following the kernel's declared field order. */
  private packParams(kernel: KernelSpec, params: Record<string, number>): number {
    const fields = kernel.shader.params;
    const bytes = Math.ceil((fields.length * 4) / 16) * 16;
    const slot = Math.ceil(bytes / this.align) * this.align;
    if (this.arenaUsed + slot > ARENA_BYTES) this.flush();
    const offset = this.arenaUsed;
    const base = offset / 4;
    fields.forEach((f, i) => {
      const [name, type] = f.split(':');
      const v = params[name];
      if (v === undefined || Number.isNaN(v))
        throw new Error(`advfree: kernel ${kernel.name}: parameter '${name}' is ${v}`);
      if (type === 'f32') this.arenaF32[base + i] = v;
      else if (type === 'i32') this.arenaI32[base + i] = v;
      else {
        if (v < 0 || v > 0xffffffff || !Number.isInteger(v))
          throw new Error(`advfree: kernel ${kernel.name}: parameter '${name}' = ${v} is not a u32`);
        this.arenaU32[base + i] = v;
      }
    });
    this.arenaUsed += slot;
    return offset;
  }

  dispatch(d: Dispatch): void {
    const host = this.hostTimes;
    const t0 = host ? performance.now() : 0;
    const { kernel } = d;
    const entry = this.pipeline(kernel, d.overrides);
    const { pipeline } = entry;
    const fields = kernel.shader.params.length;
    const offset = fields ? this.packParams(kernel, d.params ?? {}) : -1;
    const names = Object.keys(kernel.buffers);
    const given = Object.keys(d.buffers);
    if (given.length !== names.length || given.some((n) => !(n in kernel.buffers))) {
      throw new Error(`advfree: kernel ${kernel.name} takes buffers ${names.join(', ')}, got ${given.join(', ')}`);
    }
    const buffers = names.map((name) => {
      const b = d.buffers[name];
      return b instanceof GPUBuffer ? b : b.buffer;
    });
    const t1 = host ? performance.now() : 0;
    const bindGroup = this.bindGroup(entry, kernel, buffers);
    const t2 = host ? performance.now() : 0;
    const family = d.family ?? kernel.family;
    // Timestamps bracket whole passes, so a profiled dispatch runs in a pass of its own.
    if (this.timer) this.endPass();
    if (!this.pass) {
      this.encoder ??= this.device.createCommandEncoder({ label: 'advfree-batch' });
      this.pass = this.encoder.beginComputePass({
        label: 'advfree-pass',
        timestampWrites: this.timer?.begin(d, family),
      });
    }
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup, offset >= 0 ? [offset] : []);
    const [x, y = 1, z = 1] = d.groups;
    this.pass.dispatchWorkgroups(x, y, z);
    this.batch.push(kernel.name);
    const c = this.counts;
    c.total++;
    c.byKernel[kernel.name] = (c.byKernel[kernel.name] ?? 0) + 1;
    c.byFamily[family] = (c.byFamily[family] ?? 0) + 1;
    if (host) {
      host.bindGroups += t2 - t1;
      host.encode += t1 - t0 + performance.now() - t2;
    }
    if (this.batch.length >= this.batchSize) this.flush();
  }

  /**
   * The bind group of `buffers` (and the arena, at the offset given when it is set), from the pipeline's cache or
   * made and cached: createBindGroup was half of a step's recording time in the runtime (Dawn's Node bindings on
   * lavapipe), and a training step binds the same pooled buffers every time.
   */
  private bindGroup(entry: PipelineEntry, kernel: KernelSpec, buffers: GPUBuffer[]): GPUBindGroup {
    let key = '';
    for (const b of buffers) key += `${this.bufferId(b)},`;
    const cached = entry.bindGroups.get(key);
    if (cached) return cached;
    const entries: GPUBindGroupEntry[] = buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } }));
    const fields = kernel.shader.params.length;
    if (fields)
      entries.push({
        binding: 0,
        resource: { buffer: this.arena, offset: 0, size: Math.ceil((fields * 4) / 16) * 16 },
      });
    const group = this.device.createBindGroup({ layout: entry.layout, entries, label: kernel.name });
    if (entry.bindGroups.size >= BIND_GROUPS_PER_PIPELINE) entry.bindGroups.clear();
    entry.bindGroups.set(key, group);
    return group;
  }

  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;

  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  /** Drops every cached bind group (the pool destroyed buffers they may hold). */
  private forgetBindGroups(): void {
    for (const e of this.pipelines.values()) e.bindGroups.clear();
  }

  /** Ends the open compute pass; returns the encoder, for copies. */
  private endPass(): GPUCommandEncoder {
    this.pass?.end();
    this.pass = null;
    return (this.encoder ??= this.device.createCommandEncoder({ label: 'advfree-batch' }));
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    const t0 = this.hostTimes ? performance.now() : 0;
    this.endPass();
    this.timer?.resolve(this.encoder);
    if (this.arenaUsed) this.device.queue.writeBuffer(this.arena, 0, this.arenaData, 0, this.arenaUsed);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.arenaUsed = 0;
    this.submits++;
    this.counts.submits++;
    if (this.hostTimes) this.hostTimes.submit += performance.now() - t0;
    this.timer?.submitted();
    this.lastBatch = this.batch;
    this.batch = [];
    this.pool.onSubmit();
    this.gpu.check(this.describeBatch());
  }

  private lastBatch: string[] = [];

  private describeBatch(): string {
    const names = [...new Set([...this.lastBatch, ...this.batch])];
    return names.length ? `a batch with kernels ${names.join(', ')}` : 'no kernels';
  }

  /** Uploads into a buffer. A buffer that pending commands may use is written only after they are submitted. */
  write(buffer: GPUBuffer, data: ArrayBufferView, offsetBytes = 0, inUse = true): void {
    if (inUse) this.flush();
    this.device.queue.writeBuffer(buffer, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copies `bytes` from a storage buffer to the host. */
  async read(src: Bindable, bytes: number, offsetBytes = 0): Promise<ArrayBuffer> {
    const buffer = src instanceof GPUBuffer ? src : src.buffer;
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'readback',
    });
    this.counts.reads++;
    this.endPass().copyBufferToBuffer(buffer, offsetBytes, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.gpu.check(this.describeBatch());
      throw e;
    }
    this.gpu.check(this.describeBatch());
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.gpu.check(this.describeBatch());
  }

  /** Attaches (or with null detaches) a profiling timer; work recorded before is submitted untimed. */
  setTimer(timer: DispatchTimer | null): void {
    this.flush();
    this.timer = timer;
  }

  counters(): DispatchCounters {
    return structuredClone(this.counts);
  }

  resetCounters(): void {
    this.counts = noCounts();
  }

  /** Starts (true) or stops host timing, returning what was measured since it started. */
  setHostTiming(on: boolean): HostTimes | null {
    const times = this.hostTimes;
    this.hostTimes = on ? { bindGroups: 0, encode: 0, submit: 0, pool: 0 } : null;
    this.pool.hostTimes = this.hostTimes;
    return times;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }
}
