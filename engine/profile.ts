// GPU time per dispatch from timestamp queries, for the benchmarks. While a Profiler is attached, the runtime
// gives each dispatch its own compute pass bracketed by timestamps and still submits in its usual batches; each
// batch's timestamps are resolved inside that batch's command buffer and read back asynchronously, so the
// profiled work never waits on them. Pass boundaries and resolves cost a little: profiling is a mode for
// measurements, never on in training. Open the device with disableToggles ['timestamp_quantization'], or
// Dawn rounds timestamps to a coarse grain.
import { rt } from './context.js';
import { dispatchCost, type Dispatch, type KernelFamily } from './kernel.js';
import type { DispatchTimer, Runtime } from './runtime.js';

export interface Timing {
  dispatches: number;
  /** Summed GPU time of the dispatches, in milliseconds. */
  ms: number;
  /** Summed nominal FLOPs (each kernel's `flops`); 0 where a kernel declares none. */
  flops: number;
  /** Summed bytes moved in global memory (each kernel's `bytes`); 0 where a kernel declares none. */
  bytes: number;
}

export interface Profile extends Timing {
  /** Keyed 'family/kernel': one kernel can serve several families (conv2d: forward and input gradient). */
  byKernel: Record<string, Timing & { family: KernelFamily }>;
  byFamily: Partial<Record<KernelFamily, Timing>>;
}

interface Slot {
  querySet: GPUQuerySet;
  /** Where the query set resolves to (QUERY_RESOLVE cannot be mapped), then copied to `readback`. */
  resolved: GPUBuffer;
  readback: GPUBuffer;
}

interface Entry {
  name: string;
  family: KernelFamily;
  flops: number;
  bytes: number;
}

const emptyTiming = (): Timing => ({ dispatches: 0, ms: 0, flops: 0, bytes: 0 });

function add(t: Timing, ms: number, e: Entry): void {
  t.dispatches++;
  t.ms += ms;
  t.flops += e.flops;
  t.bytes += e.bytes;
}

export class Profiler implements DispatchTimer {
  /** Slots whose readback is unmapped and free for the next batch. */
  private readonly free: Slot[] = [];
  private readonly slots: Slot[] = [];
  private batch: { slot: Slot; entries: Entry[] } | null = null;
  private readonly pending: Promise<void>[] = [];
  private readonly profile: Profile = { ...emptyTiming(), byKernel: {}, byFamily: {} };
  /** Dispatches per batch: the runtime submits once it has recorded this many. */
  private readonly capacity: number;

  constructor(private readonly runtime: Runtime = rt()) {
    if (!runtime.device.features.has('timestamp-query')) {
      throw new Error(
        `advfree: profiling needs the 'timestamp-query' feature, which adapter '${runtime.gpu.name}' lacks`,
      );
    }
    this.capacity = runtime.batchSize;
    // WebGPU caps a query set at 4096 queries, two per dispatch.
    if (2 * this.capacity > 4096)
      throw new Error(`advfree: profiling needs a batch size of at most 2048, got ${this.capacity}`);
    runtime.setTimer(this);
  }

  private slot(): Slot {
    const reuse = this.free.pop();
    if (reuse) return reuse;
    const count = 2 * this.capacity;
    const device = this.runtime.device;
    const slot = {
      querySet: device.createQuerySet({ type: 'timestamp', count, label: 'profile' }),
      resolved: device.createBuffer({
        size: 8 * count,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        label: 'profile-resolve',
      }),
      readback: device.createBuffer({
        size: 8 * count,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: 'profile-readback',
      }),
    };
    this.slots.push(slot);
    return slot;
  }

  begin(d: Dispatch, family: KernelFamily): GPUComputePassTimestampWrites {
    this.batch ??= { slot: this.slot(), entries: [] };
    const i = this.batch.entries.length;
    this.batch.entries.push({ name: d.kernel.name, family, ...dispatchCost(d) });
    return { querySet: this.batch.slot.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  resolve(encoder: GPUCommandEncoder): void {
    if (!this.batch) return;
    const { slot, entries } = this.batch;
    const n = 2 * entries.length;
    encoder.resolveQuerySet(slot.querySet, 0, n, slot.resolved, 0);
    encoder.copyBufferToBuffer(slot.resolved, 0, slot.readback, 0, 8 * n);
  }

  submitted(): void {
    if (!this.batch) return;
    const { slot, entries } = this.batch;
    this.batch = null;
    const bytes = 16 * entries.length;
    this.pending.push(
      slot.readback.mapAsync(GPUMapMode.READ, 0, bytes).then(() => {
        const t = new BigUint64Array(slot.readback.getMappedRange(0, bytes));
        entries.forEach((e, i) => {
          // Timestamps are nanoseconds; an end before its beginning (a counter reset) counts as 0.
          const ms = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) / 1e6 : 0;
          const p = this.profile;
          add(p, ms, e);
          add((p.byKernel[`${e.family}/${e.name}`] ??= { ...emptyTiming(), family: e.family }), ms, e);
          add((p.byFamily[e.family] ??= emptyTiming()), ms, e);
        });
        slot.readback.unmap();
        this.free.push(slot);
      }),
    );
  }

  /** Submits what is recorded, detaches from the runtime, and returns the times once the GPU has finished. */
  async stop(): Promise<Profile> {
    this.runtime.setTimer(null);
    await Promise.all(this.pending);
    for (const s of this.slots) {
      s.querySet.destroy();
      s.resolved.destroy();
      s.readback.destroy();
    }
    return this.profile;
  }
}

const scaled = <T extends Timing>(t: T, by: number): T => ({
  ...t,
  dispatches: t.dispatches * by,
  ms: t.ms * by,
  flops: t.flops * by,
  bytes: t.bytes * by,
});

const scaledAll = <T extends Timing>(r: Record<string, T>, by: number): Record<string, T> =>
  Object.fromEntries(Object.entries(r).map(([k, t]) => [k, scaled(t, by)]));

/** A profile of n repetitions of some work, as the cost of one (dispatch counts may become fractional). */
export function perRun(p: Profile, n: number): Profile {
  return { ...scaled(p, 1 / n), byKernel: scaledAll(p.byKernel, 1 / n), byFamily: scaledAll(p.byFamily, 1 / n) };
}

/** Runs `fn` (and waits for its GPU work) under a profiler. */
export async function profile(fn: () => unknown): Promise<Profile> {
  const p = new Profiler();
  try {
    await fn();
  } catch (e) {
    await p.stop();
    throw e;
  }
  return p.stop();
}
