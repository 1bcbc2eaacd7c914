import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from '../nn/safetensors.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { assertThrows, randn } from './helpers.js';

// This file doubles as the child process of the kill -9 test: with this variable set it only writes checkpoints.
const CHILD_TARGET = process.env.ADVFREE_ATOMIC_CHILD;
const CHILD_BYTES = 1 << 21;

/** Version k of the child's file: an 8-byte counter, then CHILD_BYTES - 8 copies of k mod 251. */
function childVersion(k: number): Uint8Array {
  const b = new Uint8Array(CHILD_BYTES).fill(k % 251);
  new DataView(b.buffer).setBigUint64(0, BigInt(k), true);
  return b;
}

if (CHILD_TARGET) {
  for (let k = 0; ; k++) await writeFileAtomic(CHILD_TARGET, childVersion(k));
}

const le64 = (n: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const f32Bytes = (xs: number[]): Uint8Array => new Uint8Array(Float32Array.from(xs).buffer);

/** A file written by hand (independent of the encoder): header text padded with spaces to 8, then `data`. */
function rawFile(header: string | object, data: Uint8Array = new Uint8Array(0), headerLength?: number): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const padded = text + ' '.repeat((8 - (utf8(text).length % 8)) % 8);
  return concat(le64(headerLength ?? utf8(padded).length), utf8(padded), data);
}

const st = suite('safetensors');

st('encodes byte-for-byte like the reference implementation', () => {
  // The reference's own test vectors: header lengths 64 (no padding) and 72 (7 spaces), data right after.
  const data = Float32Array.from([0, 1, 2, 3, 4, 5]);
  const a = encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } });
  const headerA = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.is(utf8(headerA).length, 64);
  assert.equal([...a], [...concat(le64(64), utf8(headerA), f32Bytes([0, 1, 2, 3, 4, 5]))]);

  const b = encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } });
  const headerB = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}' + ' '.repeat(7);
  assert.equal([...b], [...concat(le64(72), utf8(headerB), f32Bytes([0, 1, 2, 3, 4, 5]))]);

  assert.equal([...encodeSafetensors({})], [...concat(le64(8), utf8('{}      '))]);
  const meta = encodeSafetensors({}, { framework: 'pt' });
  assert.equal([...meta], [...concat(le64(40), utf8('{"__metadata__":{"framework":"pt"}}     '))]);
});

/** A miniature WRN state_dict: conv/bn f32 tensors and BatchNorm's int64 scalar counter. */
function stateDict(): Record<string, SafetensorsEntry> {
  const f = (shape: number[], seed: number) => ({
    dtype: 'F32' as const,
    shape,
    data: Float32Array.from(
      randn(
        shape.reduce((a, b) => a * b, 1),
        seed,
      ),
    ),
  });
  return {
    'conv1.weight': f([4, 3, 3, 3], 1),
    'block1.layer.0.bn1.weight': f([4], 2),
    'block1.layer.0.bn1.running_var': f([4], 3),
    'block1.layer.0.bn1.num_batches_tracked': { dtype: 'I64', shape: [], data: BigInt64Array.of(12345678901234567n) },
    'fc.bias': f([10], 4),
    counters: { dtype: 'I64', shape: [3], data: BigInt64Array.of(-1n, 2n ** 63n - 1n, -(2n ** 63n)) },
    labels: { dtype: 'I32', shape: [5], data: Int32Array.of(0, 9, -2147483648, 2147483647, 3) },
    pixels: { dtype: 'U8', shape: [1, 1, 5], data: Uint8Array.of(0, 1, 127, 128, 255) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  };
}

st('round-trips every dtype exactly, int64 scalars included', () => {
  const sd = stateDict();
  const { tensors, metadata } = decodeSafetensors(encodeSafetensors(sd, { format: 'pt', epoch: '7' }));
  assert.equal(metadata, { format: 'pt', epoch: '7' });
  assert.equal(Object.keys(tensors).sort(), Object.keys(sd).sort());
  for (const [name, e] of Object.entries(sd)) {
    const d = tensors[name];
    assert.is(d.dtype, e.dtype, name);
    assert.equal(d.shape, e.shape, name);
    assert.is(d.data.constructor, e.data.constructor, name);
    assert.equal([...d.data], [...e.data], name);
  }
  const nbt = tensors['block1.layer.0.bn1.num_batches_tracked'];
  assert.equal(nbt.shape, []);
  assert.is(nbt.data[0], 12345678901234567n);
});

st('lays tensors out like the reference: by descending alignment, then by name; every tensor aligned', () => {
  const bytes = encodeSafetensors(stateDict());
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is(n % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; data_offsets: number[] }
  >;
  const order = Object.entries(header).sort(
    (a, b) => a[1].data_offsets[0] - b[1].data_offsets[0] || a[1].data_offsets[1] - b[1].data_offsets[1],
  );
  assert.equal(
    order.map(([k]) => k),
    // I64, then F32 (the zero-byte 'empty' sorts first by name), then I32, then U8.
    [
      'block1.layer.0.bn1.num_batches_tracked',
      'counters',
      'block1.layer.0.bn1.running_var',
      'block1.layer.0.bn1.weight',
      'conv1.weight',
      'empty',
      'fc.bias',
      'labels',
      'pixels',
    ],
  );
  assert.equal(
    Object.keys(header),
    order.map(([k]) => k),
    'header keys in data order',
  );
  const size: Record<string, number> = { I64: 8, F32: 4, I32: 4, U8: 1 };
  for (const [k, v] of order) assert.is((8 + n + v.data_offsets[0]) % size[v.dtype], 0, `${k} aligned in the file`);
});

st('decodes from unaligned memory, copies out of the buffer, accepts any data order', () => {
  const bytes = encodeSafetensors(stateDict());
  const shifted = new Uint8Array(bytes.length + 3).subarray(3);
  shifted.set(bytes);
  const { tensors } = decodeSafetensors(shifted);
  const before = [...tensors['conv1.weight'].data];
  shifted.fill(0);
  assert.equal([...tensors['conv1.weight'].data], before, 'no aliasing of the file buffer');
  assert.is(tensors['counters'].data[1], 2n ** 63n - 1n);

  // Written in name order by an older writer: b (U8) before c (F32), data of c at offset 2.
  const file = rawFile(
    {
      __metadata__: { k: 'v' },
      c: { dtype: 'F32', shape: [1], data_offsets: [2, 6] },
      b: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
    },
    concat(Uint8Array.of(7, 8), f32Bytes([1.5])),
  );
  const d = decodeSafetensors(file);
  assert.equal([...d.tensors.b.data], [7, 8]);
  assert.equal([...d.tensors.c.data], [1.5]);
  assert.equal(d.metadata, { k: 'v' });
  assert.equal(decodeSafetensors(rawFile({})).tensors, {});
});

st('names with special characters survive', () => {
  const names = ['__proto__', '0', 'a"b\\c', 'ünï.cödé', 'x y'];
  const entries = Object.fromEntries(
    names.map((k, i) => [k, { dtype: 'I32' as const, shape: [1], data: Int32Array.of(i) }]),
  );
  const { tensors } = decodeSafetensors(encodeSafetensors(entries));
  assert.equal(Object.keys(tensors).sort(), [...names].sort());
  for (const [i, k] of names.entries()) assert.is(Object.getOwnPropertyDescriptor(tensors, k)?.value.data[0], i, k);
});

st('rejects malformed files with messages naming the tensor', () => {
  const w =
    (info: object, data = new Uint8Array(8)) =>
    () =>
      decodeSafetensors(rawFile({ w: info }, data));
  assertThrows(() => decodeSafetensors(new Uint8Array(5)), /5 bytes is too short/);
  assertThrows(
    () => decodeSafetensors(rawFile({}, new Uint8Array(0), 4096)),
    /header length 4096 goes beyond the file of 16 bytes/,
  );
  assertThrows(() => decodeSafetensors(concat(le64(2 ** 40), new Uint8Array(8))), /exceeds the limit/);
  assertThrows(() => decodeSafetensors(rawFile('{"w": ')), /not valid JSON/);
  assertThrows(() => decodeSafetensors(rawFile('[1,2]')), /starting with '\{'/);
  assertThrows(
    () => decodeSafetensors(concat(le64(8), Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d, 32, 32, 32, 32))),
    /not valid UTF-8/,
  );
  assertThrows(
    w({ dtype: 'F16', shape: [4], data_offsets: [0, 8] }),
    /tensor 'w'/,
    /unknown dtype "F16"/,
    /F32, I64, I32, U8|supported/,
  );
  assertThrows(
    w({ dtype: 'F32', shape: [3], data_offsets: [0, 8] }),
    /tensor 'w'/,
    /F32 \[3\] needs 12 bytes/,
    /hold 8/,
  );
  assertThrows(w({ dtype: 'F32', shape: [2.5], data_offsets: [0, 8] }), /tensor 'w'/, /shape \[2.5\]/);
  assertThrows(w({ dtype: 'F32', shape: [2], data_offsets: [0] }), /tensor 'w'/, /data_offsets \[0\]/);
  assertThrows(w({ dtype: 'F32', shape: [2], data_offsets: [8, 0] }), /tensor 'w'/, /end before/);
  assertThrows(
    w({ dtype: 'I64', shape: [], data_offsets: [0, 8] }, new Uint8Array(4)),
    /tensor 'w'/,
    /beyond the data section of 4 bytes/,
  );
  assertThrows(
    w({ dtype: 'F32', shape: [2], data_offsets: [0, 8] }, new Uint8Array(12)),
    /tensors cover 8 bytes of the data section, which has 12/,
  );
  assertThrows(w({ dtype: 'F32', shape: [1], data_offsets: [4, 8] }), /tensor 'w'/, /gap of unused bytes \[0,4\]/);
  assertThrows(
    () =>
      decodeSafetensors(
        rawFile(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          },
          new Uint8Array(8),
        ),
      ),
    /tensor 'b'/,
    /overlap/,
  );
  assertThrows(
    () => decodeSafetensors(rawFile({ __metadata__: { epoch: 3 } })),
    /__metadata__ entry 'epoch' must be a string/,
  );
  assertThrows(() => decodeSafetensors(rawFile({ w: 5 })), /tensor 'w'/, /must be an object/);
});

st('encode rejects inconsistent entries, naming the tensor', () => {
  const bad = (e: object) => () => encodeSafetensors({ w: e as SafetensorsEntry });
  assertThrows(
    bad({ dtype: 'F32', shape: [2], data: Int32Array.of(1, 2) }),
    /tensor 'w'/,
    /F32 needs a Float32Array, got Int32Array/,
  );
  assertThrows(
    bad({ dtype: 'I64', shape: [], data: BigInt64Array.of(1n, 2n) }),
    /tensor 'w'/,
    /shape \[\] has 1 elements, data has 2/,
  );
  assertThrows(bad({ dtype: 'F64', shape: [1], data: new Float32Array(1) }), /tensor 'w'/, /unknown dtype 'F64'/);
  assertThrows(bad({ dtype: 'U8', shape: [-1], data: new Uint8Array(0) }), /tensor 'w'/, /non-negative integers/);
  assertThrows(
    () => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }),
    /invalid tensor name '__metadata__'/,
  );
  assertThrows(() => encodeSafetensors({}, { epoch: 3 as unknown as string }), /metadata 'epoch' must be a string/);
});

const at = suite('writeFileAtomic');
let dir = '';
at.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'advfree-atomic-'));
});
at.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

at('writes the complete file and leaves no temp files', async () => {
  const path = join(dir, 'a.safetensors');
  const bytes = encodeSafetensors(stateDict());
  await writeFileAtomic(path, bytes);
  assert.equal([...(await readFile(path))], [...bytes]);
  await writeFileAtomic(path, 'replaced');
  assert.is(await readFile(path, 'utf8'), 'replaced');
  assert.equal(await readdir(dir), ['a.safetensors']);
});

at("keeps an existing file's permissions", async () => {
  const path = join(dir, 'b.txt');
  await writeFile(path, 'old');
  await chmod(path, 0o600);
  await writeFileAtomic(path, 'new');
  assert.is((await stat(path)).mode & 0o777, 0o600);
  await rm(path);
});

at('a failing write leaves the old file intact and no temp files', async () => {
  const path = join(dir, 'c.txt');
  await writeFile(path, 'old contents');
  let failed = false;
  // Not writable data: the write into the temp file throws after the temp file exists.
  await writeFileAtomic(path, 42 as unknown as string).catch(() => (failed = true));
  assert.ok(failed, 'the write must reject');
  assert.is(await readFile(path, 'utf8'), 'old contents');
  assert.equal((await readdir(dir)).sort(), ['a.safetensors', 'c.txt']);
  let missing = '';
  await writeFileAtomic(join(dir, 'no-such-dir', 'x'), 'x').catch(
    (e: NodeJS.ErrnoException) => (missing = e.code ?? ''),
  );
  assert.is(missing, 'ENOENT');
});

at('kill -9 during a stream of writes leaves an old or new file, never a torn one', async () => {
  const path = join(dir, 'ckpt.bin');
  const self = fileURLToPath(import.meta.url);
  for (const delayMs of [0, 7, 19, 33, 61]) {
    const child = spawn(process.execPath, [self], {
      env: { ...process.env, ADVFREE_ATOMIC_CHILD: path },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const t0 = Date.now();
    while (!existsSync(path)) {
      if (Date.now() - t0 > 20_000) assert.unreachable('the child wrote nothing');
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exited;
    const got = new Uint8Array(await readFile(path));
    assert.is(got.length, CHILD_BYTES, `file length after kill at +${delayMs} ms`);
    const k = Number(new DataView(got.buffer, got.byteOffset).getBigUint64(0, true));
    assert.ok(
      got.subarray(8).every((v) => v === k % 251),
      `version ${k} is complete`,
    );
  }
});

if (!CHILD_TARGET) {
  st.run();
  at.run();
}
