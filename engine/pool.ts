// A pool of storage buffers by size class. A released buffer waits in `pending` until the work that may
// still use it has been submitted (`onSubmit`), so a later upload through the queue can never overwrite data
// that an unsubmitted command still reads.

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

export class BufferPool {
  /** While set (Runtime.setHostTiming), host time in acquire and release accumulates in its `pool`. */
  hostTimes: { pool: number } | null = null;
  private free = new Map<number, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private inUse = 0;
  private pooled = 0;
  private allocated = 0;
  private peak = 0;
  private created = 0;

  /** The largest buffer a kernel can bind whole: both the binding and the buffer limit apply. */
  private readonly maxBytes: number;

  /** `report` receives allocation failures the device reports later (out of memory), to be thrown at the next check. */
  constructor(private readonly device: GPUDevice, private readonly report: (e: Error) => void = () => {}) {
    const { maxStorageBufferBindingSize, maxBufferSize } = device.limits;
    // Buffer sizes stay multiples of 4 (copies and bindings of f32 data need it).
    this.maxBytes = Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / 4) * 4;
  }

  private limits(): string {
    const { maxStorageBufferBindingSize, maxBufferSize } = this.device.limits;
    return `the adapter's maxStorageBufferBindingSize is ${maxStorageBufferBindingSize} bytes, maxBufferSize ${maxBufferSize} bytes`;
  }

  acquire(bytes: number, label: string): GPUBuffer {
    const t0 = this.hostTimes ? performance.now() : 0;
    const buf = this.take(bytes, label);
    if (this.hostTimes) this.hostTimes.pool += performance.now() - t0;
    return buf;
  }

  private take(bytes: number, label: string): GPUBuffer {
    if (bytes > this.maxBytes) {
      throw new Error(`advfree: tensor '${label}' needs ${bytes} bytes, more than one GPU buffer can hold (${this.limits()}); a smaller batch (--batch) or model would fit`);
    }
    // A size class above the limit would fail where the tensor itself fits: such tensors get a buffer of the limit.
    const size = Math.min(sizeClass(bytes), this.maxBytes);
    const list = this.free.get(size);
    let buf = list?.pop();
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
      void this.device.popErrorScope().then((err) => {
        if (err) {
          this.report(new Error(`advfree: out of GPU memory creating a ${size}-byte buffer for '${label}' with ${allocated} bytes of buffers already allocated (${this.limits()}): ${err.message}`));
        }
      }, () => {});
      this.allocated += size;
      this.created++;
    }
    this.inUse += size;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return buf;
  }

  release(buf: GPUBuffer): void {
    const t0 = this.hostTimes ? performance.now() : 0;
    this.inUse -= buf.size;
    this.pooled += buf.size;
    this.pending.push(buf);
    if (this.hostTimes) this.hostTimes.pool += performance.now() - t0;
  }

  /** Called right after a queue submit: buffers released before it are now safe to hand out again. */
  onSubmit(): void {
    for (const buf of this.pending) {
      let list = this.free.get(buf.size);
      if (!list) this.free.set(buf.size, (list = []));
      list.push(buf);
    }
    this.pending.length = 0;
  }

  /** Destroys the pooled buffers (not those in use), returning their memory to the driver. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buf of list) {
        this.allocated -= buf.size;
        this.pooled -= buf.size;
        buf.destroy();
      }
    }
    this.free.clear();
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
