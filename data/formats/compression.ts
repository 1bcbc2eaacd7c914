// The compressions R's data files use: gzip, bzip2 and xz around an .rda, zlib or gzip around a lazy-load index,
// raw LZMA2, bzip2 or zlib per lazy-load object. Node's zlib covers gzip and zlib; xz and raw LZMA2 come from
// @napi-rs/lzma (liblzma's format in Rust, prebuilt for every platform Node runs on) and bzip2 from seek-bzip
// (pure JavaScript): both decode in-process and synchronously, so reading a dataset needs no system tool, and
// both give byte-identical output to xz 5.4 and bzip2 1.0.8 on the files read here (checked when chosen).
import lzma from '@napi-rs/lzma';
import Bunzip from 'seek-bzip';
import { gunzipSync, inflateSync } from 'node:zlib';
import { DatasetError } from '../errors.js';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'none';

const startsWith = (b: Uint8Array, magic: number[]): boolean => magic.every((m, i) => b[i] === m);

/** What wraps `bytes`, from its magic number (gzip 1f 8b, bzip2 'BZh', xz fd '7zXZ' 00), else 'none'. */
export function compressionOf(bytes: Uint8Array): Compression {
  if (startsWith(bytes, [0x1f, 0x8b])) return 'gzip';
  if (startsWith(bytes, [0x42, 0x5a, 0x68])) return 'bzip2';
  if (startsWith(bytes, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  return 'none';
}

/** Runs a decoder, turning its failure into an error that names the file and the compression. */
function decode(what: string, file: string, f: () => Uint8Array): Uint8Array {
  try {
    return f();
  } catch (e) {
    throw new DatasetError(
      `${file}: cannot decompress its ${what} data (${(e as Error).message}); the file is damaged or truncated`,
    );
  }
}

/** A bzip2 stream; `size` (when known) is its decompressed length. */
export const bunzip2 = (bytes: Uint8Array, file: string, size?: number): Uint8Array =>
  decode('bzip2', file, () => Bunzip.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), size));

/** A zlib stream (RFC 1950), or gzip when it starts with gzip's magic (R writes either for a lazy-load index). */
export const inflate = (bytes: Uint8Array, file: string): Uint8Array =>
  compressionOf(bytes) === 'gzip'
    ? decode('gzip', file, () => gunzipSync(bytes))
    : decode('zlib', file, () => inflateSync(bytes));

/** Raw LZMA2 (no container), as R's lazy-load database stores with compress = 3 (type byte 'Z'). */
export const rawLzma2 = (bytes: Uint8Array, file: string): Uint8Array =>
  decode('raw LZMA2', file, () => lzma.lzma2.decompressSync(bytes));

/** Removes the gzip, bzip2 or xz wrapper of an .rda file (an unwrapped file is returned as it is). */
export function unwrap(bytes: Uint8Array, file: string): Uint8Array {
  switch (compressionOf(bytes)) {
    case 'gzip':
      return inflate(bytes, file);
    case 'bzip2':
      return bunzip2(bytes, file);
    case 'xz':
      return decode('xz', file, () => lzma.xz.decompressSync(bytes));
    case 'none':
      return bytes;
  }
}
