// Dense, contiguous tensors in pooled GPU storage buffers. Images are NCHW. A tensor carries a name for error
// messages; disposing it returns its buffer to the pool.
import { rt } from './context.js';
import { checkShape, fail, fmt } from './check.js';
import { track } from './scope.js';
import type { PoolStats } from './pool.js';

/** u8 holds raw image bytes (4 per 32-bit word in WGSL, which has no 8-bit storage type). */
export type DType = 'f32' | 'i32' | 'u8';
export type Shape = readonly number[];
export type HostArray = Float32Array | Int32Array | Uint8Array;

const ELEMENT_BYTES: Record<DType, number> = { f32: 4, i32: 4, u8: 1 };

/** Bytes of storage for a tensor: whole 32-bit words, since WGSL buffers are arrays of 4-byte values. */
const storageBytes = (shape: Shape, dtype: DType): number => Math.ceil((numel(shape) * ELEMENT_BYTES[dtype]) / 4) * 4;

/** A pooled buffer and the number of undisposed tensors that hold it (a tensor and its reshaped views). */
interface Storage {
  readonly buffer: GPUBuffer;
  holders: number;
}

let nextId = 1;
let live = 0;

/** Memory accounting: live tensors plus the buffer pool's statistics. */
export function memory(): PoolStats & { liveTensors: number } {
  return { liveTensors: live, ...rt().pool.stats() };
}

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

export class Tensor {
  readonly isTensor = true;
  readonly id = nextId++;
  readonly size: number;
  /** The buffer, shared with reshaped views of this tensor (`view`); null once disposed. */
  private storage: Storage | null;
  /** For a prefix view: the tensor that owns the storage. */
  private owner: Tensor | null = null;

  /**
   * @param intRange for integer tensors uploaded from the host, their [min, max], so that ops can check
   *   e.g. labels against the number of classes without a readback.
   */
  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    buffer: GPUBuffer,
    public name: string,
    readonly intRange?: readonly [number, number],
  ) {
    this.size = numel(shape);
    this.storage = { buffer, holders: 1 };
    live++;
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`advfree: tensor ${this.describe()} was used after dispose()`);
    if (this.owner?.disposed)
      throw new Error(
        `advfree: view ${this.describe()} was used after its tensor ${this.owner.describe()} was disposed`,
      );
    return this.storage.buffer;
  }

  /**
   * The same elements under another shape of the same size, sharing this tensor's storage (no copy: a write to
   * either shows in both). Each is disposed on its own, and the buffer returns to the pool when both are, so the
   * tape may free a gradient while its reshaped view lives on.
   */
  view(shape: Shape, name: string): Tensor {
    const storage = this.storage;
    if (!storage) throw new Error(`advfree: tensor ${this.describe()} was used after dispose()`);
    const v = new Tensor([...shape], this.dtype, storage.buffer, name, this.intRange);
    v.storage = storage;
    v.owner = this.owner;
    storage.holders++;
    return v;
  }

  /**
   * The first `rows` entries along the leading axis, sharing this tensor's storage (a contiguous prefix, so the
   * same buffer serves: kernels read only `size` elements). The view owns nothing: disposing it frees nothing,
   * and it must not be used after this tensor is disposed.
   */
  prefix(rows: number): Tensor {
    const n = this.shape[0];
    if (!Number.isInteger(rows) || rows < 1 || rows > n)
      fail('prefix', `${rows} rows of tensor ${this.describe()}: must be in [1, ${n}]`);
    const v = new Tensor(
      [rows, ...this.shape.slice(1)],
      this.dtype,
      this.buffer,
      `${this.name}[:${rows}]`,
      this.intRange,
    );
    v.owner = this;
    return v;
  }

  /** Bytes of data (u8 tensors: one per element, padded to whole 32-bit words). */
  get bytes(): number {
    return storageBytes(this.shape, this.dtype);
  }

  describe(): string {
    return `'${this.name}' ${fmt(this.shape)}${this.dtype === 'f32' ? '' : ' ' + this.dtype}`;
  }

  toString(): string {
    return `Tensor(${this.describe()})`;
  }

  dispose(): void {
    const storage = this.storage;
    if (!storage) return;
    // A prefix view's buffer belongs to its tensor.
    if (!this.owner && --storage.holders === 0) rt().pool.release(storage.buffer);
    this.storage = null;
    live--;
  }

  /** Downloads the contents of an f32 tensor (flushes pending work). */
  async data(): Promise<Float32Array> {
    if (this.dtype !== 'f32') fail('data', `tensor ${this.describe()} is not f32: use ints()`);
    return new Float32Array(await rt().read(this, this.bytes));
  }

  /** Downloads the contents of an i32 tensor. */
  async ints(): Promise<Int32Array> {
    if (this.dtype !== 'i32') fail('ints', `tensor ${this.describe()} is not i32: use data()`);
    return new Int32Array(await rt().read(this, this.bytes));
  }

  /** Downloads the contents of a u8 tensor. */
  async bytesData(): Promise<Uint8Array> {
    if (this.dtype !== 'u8') fail('bytesData', `tensor ${this.describe()} is not u8`);
    return new Uint8Array(await rt().read(this, this.bytes), 0, this.size);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) fail('item', `tensor ${this.describe()} has ${this.size} elements, not 1`);
    const data =
      this.dtype === 'f32' ? await this.data() : this.dtype === 'i32' ? await this.ints() : await this.bytesData();
    return data[0];
  }

  /** Overwrites the contents from the host, after any pending GPU work that uses this tensor. */
  write(data: HostArray): void {
    if (data.length !== this.size) fail('write', `${data.length} values for tensor ${this.describe()}`);
    rt().write(this.buffer, data.byteLength === this.bytes ? data : padTo(data as Uint8Array, this.bytes));
  }
}

/** An uninitialised tensor (contents undefined until a kernel writes it). */
export function empty(shape: Shape, name = 'tensor', dtype: DType = 'f32'): Tensor {
  checkShape(shape, `shape of '${name}'`);
  return new Tensor([...shape], dtype, rt().pool.acquire(storageBytes(shape, dtype), name), name);
}

export interface FromDataOptions {
  name?: string;
  /** Reject NaN/Infinity in float data (default true): catches bad inputs at the boundary. */
  checkFinite?: boolean;
}

/** Uploads host data. The dtype follows the array type (Float32Array → f32, Int32Array → i32, Uint8Array → u8). */
export function tensor(data: HostArray | number[], shape: Shape, opts: FromDataOptions = {}): Tensor {
  const name = opts.name ?? 'tensor';
  const host = Array.isArray(data) ? Float32Array.from(data) : data;
  checkShape(shape, `shape of '${name}'`);
  if (host.length !== numel(shape))
    fail('tensor', `${host.length} values do not fill shape ${fmt(shape)} of '${name}'`);
  const dtype: DType = host instanceof Int32Array ? 'i32' : host instanceof Uint8Array ? 'u8' : 'f32';
  let intRange: [number, number] | undefined;
  if (dtype === 'f32' && opts.checkFinite !== false) {
    for (let i = 0; i < host.length; i++) {
      if (!Number.isFinite(host[i])) fail('tensor', `'${name}' ${fmt(shape)} holds ${host[i]} at index ${i}`);
    }
  } else if (dtype === 'i32') {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < host.length; i++) {
      lo = Math.min(lo, host[i]);
      hi = Math.max(hi, host[i]);
    }
    intRange = [lo, hi];
  }
  const bytes = storageBytes(shape, dtype);
  const buffer = rt().pool.acquire(bytes, name, true);
  // writeBuffer needs a multiple of 4 bytes: pad a u8 upload to whole words.
  const padded = host.byteLength === bytes ? host : padTo(host as Uint8Array, bytes);
  // An upload's buffer from the pool is used by no unsubmitted command, so the upload needs no flush.
  rt().write(buffer, padded, 0, false);
  return new Tensor([...shape], dtype, buffer, name, intRange);
}

function padTo(data: Uint8Array, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out.set(data);
  return out;
}
