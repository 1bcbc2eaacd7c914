// The safetensors file format (Hugging Face), host side: u64 little-endian header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}} padded with spaces to a
// multiple of 8, then the little-endian tensor data. Files written here are byte-identical to the reference
// implementation's (and so load in PyTorch with safetensors.torch.load_file).

export type SafetensorsDtype = 'F32' | 'I64' | 'I32' | 'U8' | 'I8';

/** What encodeSafetensors accepts; the data's array type must match the dtype. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;
}

/** What decodeSafetensors returns: the data's array type follows from the dtype. */
export type SafetensorsTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array }
  | { dtype: 'U8'; shape: number[]; data: Uint8Array }
  | { dtype: 'I8'; shape: number[]; data: Int8Array };

type ArrayCtor =
  | Float32ArrayConstructor
  | BigInt64ArrayConstructor
  | Int32ArrayConstructor
  | Uint8ArrayConstructor
  | Int8ArrayConstructor;

const DTYPES: Record<SafetensorsDtype, { bytes: number; array: ArrayCtor; rank: number }> = {
  // `rank` is the position in the reference's Dtype enum, which is ordered by alignment: the reference lays
  // tensors out by descending rank, then by name, so every tensor is naturally aligned within the data.
  U8: { bytes: 1, array: Uint8Array, rank: 1 },
  I8: { bytes: 1, array: Int8Array, rank: 2 },
  I32: { bytes: 4, array: Int32Array, rank: 9 },
  F32: { bytes: 4, array: Float32Array, rank: 11 },
  I64: { bytes: 8, array: BigInt64Array, rank: 13 },
};

const METADATA_KEY = '__metadata__';
/** The reference rejects larger headers; so do we, before decoding megabytes of hostile JSON. */
const MAX_HEADER_BYTES = 100_000_000;

// Tensor bytes are copied verbatim; the format is little-endian, and so is every platform Node runs WebGPU on.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
  throw new Error('safetensors: big-endian hosts are not supported');

const isDtype = (d: unknown): d is SafetensorsDtype => typeof d === 'string' && Object.hasOwn(DTYPES, d);
const dtypeList = Object.keys(DTYPES).join(', ');
const fmtShape = (s: readonly unknown[]): string => `[${s.join(',')}]`;

function fail(msg: string): never {
  throw new Error(`safetensors: ${msg}`);
}

/** Element count of a shape ([] is a scalar: 1 element), or null where a dimension is not a non-negative integer. */
function elementCount(shape: unknown): number | null {
  if (!Array.isArray(shape)) return null;
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return null;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : null;
}

/** Serializes tensors (and optional string metadata) to the bytes of a .safetensors file. */
export function encodeSafetensors(
  entries: Record<string, SafetensorsEntry>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(entries);
  for (const name of names) {
    const e = entries[name];
    if (name === '' || name === METADATA_KEY) fail(`invalid tensor name '${name}'`);
    if (!isDtype(e.dtype)) fail(`tensor '${name}': unknown dtype '${e.dtype}' (supported: ${dtypeList})`);
    const n = elementCount(e.shape);
    if (n === null) fail(`tensor '${name}': shape ${fmtShape(e.shape ?? [])} must hold non-negative integers`);
    const { array } = DTYPES[e.dtype];
    if (!(e.data instanceof array)) {
      fail(
        `tensor '${name}': dtype ${e.dtype} needs a ${array.name}, got ${e.data?.constructor?.name ?? typeof e.data}`,
      );
    }
    if (e.data.length !== n)
      fail(`tensor '${name}': shape ${fmtShape(e.shape)} has ${n} elements, data has ${e.data.length}`);
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata '${k}' must be a string, got ${typeof v}`);
    }
  }

  names.sort((a, b) => DTYPES[entries[b].dtype].rank - DTYPES[entries[a].dtype].rank || (a < b ? -1 : a > b ? 1 : 0));
  // Assembled by hand to keep the reference's key order (metadata first, then the tensors in data order): a JS
  // object would move integer-like names first, and would turn a tensor named '__proto__' into its prototype.
  const parts: string[] = metadata ? [`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`] : [];
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = entries[name];
    parts.push(
      `${JSON.stringify(name)}:${JSON.stringify({ dtype, shape, data_offsets: [offset, offset + data.byteLength] })}`,
    );
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerBytes = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerBytes + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const name of names) {
    const { data } = entries[name];
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

/**
 * Parses a .safetensors file, validating the header strictly (errors name the offending tensor). The tensor data
 * is copied into fresh arrays, so the result neither aliases `bytes` nor depends on its alignment.
 */
export function decodeSafetensors(bytes: Uint8Array): {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8) fail(`file of ${bytes.length} bytes is too short for the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const headerBytes = Number(n);
  if (8 + headerBytes > bytes.length)
    fail(`header length ${headerBytes} goes beyond the file of ${bytes.length} bytes`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{'))
    fail(`header must be a JSON object starting with '{', got ${JSON.stringify(text.slice(0, 20))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header must be a JSON object');

  const metadata: [string, string][] = [];
  const infos: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        fail(`${METADATA_KEY} must be an object of strings`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail(`${METADATA_KEY} entry '${k}' must be a string, got ${JSON.stringify(v)}`);
        metadata.push([k, v]);
      }
      continue;
    }
    if (typeof value !== 'object' || value === null) fail(`tensor '${name}': entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (supported: ${dtypeList})`);
    const count = elementCount(shape);
    if (count === null)
      fail(`tensor '${name}': shape ${JSON.stringify(shape)} must be an array of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor '${name}': data_offsets ${JSON.stringify(offsets)} must be [begin, end] with non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`tensor '${name}': data_offsets [${begin},${end}] end before they begin`);
    const expected = count * DTYPES[dtype].bytes;
    if (end - begin !== expected) {
      fail(
        `tensor '${name}': ${dtype} ${fmtShape(shape as number[])} needs ${expected} bytes, data_offsets [${begin},${end}] hold ${end - begin}`,
      );
    }
    infos.push({ name, dtype, shape: [...(shape as number[])], begin, end });
  }

  // The data must be exactly the concatenation of the tensors, in any order: no gaps, no overlaps, no trailing bytes.
  const dataBytes = bytes.length - 8 - headerBytes;
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const t of infos) {
    if (t.begin < covered)
      fail(
        `tensor '${t.name}': data_offsets [${t.begin},${t.end}] overlap the previous tensor's data (ending at ${covered})`,
      );
    if (t.begin > covered)
      fail(
        `tensor '${t.name}': data_offsets [${t.begin},${t.end}] leave a gap of unused bytes [${covered},${t.begin}]`,
      );
    if (t.end > dataBytes)
      fail(`tensor '${t.name}': data_offsets [${t.begin},${t.end}] go beyond the data section of ${dataBytes} bytes`);
    covered = t.end;
  }
  if (covered !== dataBytes) fail(`tensors cover ${covered} bytes of the data section, which has ${dataBytes}`);

  const start = 8 + headerBytes;
  const tensors = Object.fromEntries(
    infos.map((t) => {
      const { array, bytes: size } = DTYPES[t.dtype];
      const data = new array((t.end - t.begin) / size);
      new Uint8Array(data.buffer).set(bytes.subarray(start + t.begin, start + t.end));
      return [t.name, { dtype: t.dtype, shape: t.shape, data } as SafetensorsTensor];
    }),
  );
  // fromEntries defines own properties, so even a name like '__proto__' stays a plain key.
  return { tensors, metadata: Object.fromEntries(metadata) };
}
