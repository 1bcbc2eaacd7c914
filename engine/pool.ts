// A pool of storage buffers by size class. A kernel's output may take any released buffer at once: the queue
// runs commands in order, so a later kernel writes a buffer only after the commands recorded before it have
// read it. An upload through the queue runs before the commands still waiting to be submitted, so it takes only
// a buffer released before the last submit (`onSubmit`). Each takes the oldest buffer (the lowest creation
// number) it may: a training step then gets the same buffers in every step, wherever the runtime's submits fall
// (a last-in-first-out list permutes them from step to step), so that its bind groups are reused.

/** Size classes of 2^k, 1.25·2^k, 1.5·2^k, 1.75·2^k bytes: at most 25% waste, few distinct classes. */
export function sizeClass(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const p = 2 ** Math.floor(Math.log2(bytes));
  for (const q of [1, 1.25, 1.5, 1.75, 2]) {
    const c = p * q;
    if (c >= bytes) return c;
  }
  return 2 * p;
}

export interface PoolStats {
  /** Bytes of buffers handed out and not yet released. */
  bytesInUse: number;
  /** Bytes of buffers released and waiting for reuse (including those waiting for a submit). */
  bytesPooled: number;
  /** Bytes of all GPU buffers the pool ever created and still owns. */
  bytesAllocated: number;
  /** Highest `bytesInUse` seen since the last `resetPeak()`. */
  peakBytesInUse: number;
  buffersCreated: number;
}

/** A released buffer, numbered in creation order; `submitted` once every command recorded before its release has been. */
interface Released {
  buffer: GPUBuffer;
  id: number;
  submitted: boolean;
}

export class BufferPool {
  /** While set (Runtime.setHostTiming), host time in acquire and release accumulates in its `pool`. */
  hostTimes: { pool: number } | null = null;
  /** Per size class, by decreasing creation number (the oldest last). */
  private free = new Map<number, Released[]>();
  private readonly ids = new WeakMap<GPUBuffer, number>();
  /** Released since the last submit. */
  private pending: Released[] = [];
  private inUse = 0;
  private pooled = 0;
  private allocated = 0;
  private peak = 0;
  private created = 0;

  /** The largest buffer a kernel can bind whole: both the binding and the buffer limit apply. */
  private readonly maxBytes: number;

  /**
   * `report` receives allocation failures the device reports later (out of memory), to be thrown at the next check;
   * `destroyed` is told when trim() destroys buffers (the runtime drops the bind groups that may hold them).
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly report: (e: Error) => void = () => {},
    private readonly destroyed: () => void = () => {},
  ) {
    const { maxStorageBufferBindingSize, maxBufferSize } = device.limits;
    // Buffer sizes stay multiples of 4 (copies and bindings of f32 data need it).
    this.maxBytes = Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / 4) * 4;
  }

  private limits(): string {
    const { maxStorageBufferBindingSize, maxBufferSize } = this.device.limits;
    return `the adapter's maxStorageBufferBindingSize is ${maxStorageBufferBindingSize} bytes, maxBufferSize ${maxBufferSize} bytes`;
  }

  /** A buffer of at least `bytes`; `upload`: for data written through the queue before any kernel uses it. */
  acquire(bytes: number, label: string, upload = false): GPUBuffer {
    const t0 = this.hostTimes ? performance.now() : 0;
    const buf = this.take(bytes, label, upload);
    if (this.hostTimes) this.hostTimes.pool += performance.now() - t0;
    return buf;
  }

  /** The oldest released buffer of the class (submitted, for an upload), removed from the list. */
  private reuse(size: number, upload: boolean): GPUBuffer | undefined {
    const list = this.free.get(size);
    if (!list) return undefined;
    let i = list.length - 1;
    if (upload) while (i >= 0 && !list[i].submitted) i--;
    if (i < 0) return undefined;
    return list.splice(i, 1)[0].buffer;
  }

  private take(bytes: number, label: string, upload: boolean): GPUBuffer {
    if (bytes > this.maxBytes) {
      throw new Error(
        `advfree: tensor '${label}' needs ${bytes} bytes, more than one GPU buffer can hold (${this.limits()}); a smaller batch (--batch) or model would fit`,
      );
    }
    // A size class above the limit would fail where the tensor itself fits: such tensors get a buffer of the limit.
    const size = Math.min(sizeClass(bytes), this.maxBytes);
    let buf = this.reuse(size, upload);
    if (buf) {
      this.pooled -= size;
    } else {
      // Out-of-memory is reported asynchronously; the scope turns it into an error naming the sizes.
      this.device.pushErrorScope('out-of-memory');
      buf = this.device.createBuffer({
        size,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        label,
      });
      const allocated = this.allocated;
      void this.device.popErrorScope().then(
        (err) => {
          if (err) {
            this.report(
              new Error(
                `advfree: out of GPU memory creating a ${size}-byte buffer for '${label}' with ${allocated} bytes of buffers already allocated (${this.limits()}): ${err.message}`,
              ),
            );
          }
        },
        () => {},
      );
      this.allocated += size;
      this.ids.set(buf, this.created++);
    }
    this.inUse += size;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return buf;
  }

  release(buf: GPUBuffer): void {
    const t0 = this.hostTimes ? performance.now() : 0;
    this.inUse -= buf.size;
    this.pooled += buf.size;
    const entry = { buffer: buf, id: this.ids.get(buf)!, submitted: false };
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    // Binary search for the first entry older than this one.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].id > entry.id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, entry);
    this.pending.push(entry);
    if (this.hostTimes) this.hostTimes.pool += performance.now() - t0;
  }

  /** Called right after a queue submit: buffers released before it may now take uploads. */
  onSubmit(): void {
    for (const entry of this.pending) entry.submitted = true;
    this.pending.length = 0;
  }

  /** Destroys the pooled buffers (not those in use or waiting for a submit), returning their memory to the driver. */
  trim(): void {
    for (const [size, list] of this.free) {
      // A buffer released since the last submit may still be read by a command waiting for it.
      const kept = list.filter((e) => !e.submitted);
      for (const e of list) {
        if (!e.submitted) continue;
        this.allocated -= size;
        this.pooled -= size;
        e.buffer.destroy();
      }
      this.free.set(size, kept);
    }
    this.destroyed();
  }

  resetPeak(): void {
    this.peak = this.inUse;
  }

  stats(): PoolStats {
    return {
      bytesInUse: this.inUse,
      bytesPooled: this.pooled,
      bytesAllocated: this.allocated,
      peakBytesInUse: this.peak,
      buffersCreated: this.created,
    };
  }
}
