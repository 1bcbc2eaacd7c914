// Reads a split of a cached dataset into memory: the images channel-major, the labels as i32.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_BYTES, recordBytes, specOf, type DatasetName, type DatasetSpec, type Split } from './catalogue.js';
import { DatasetError } from './errors.js';

export interface SplitData {
  /** count * IMAGE_BYTES bytes, each image channel-major (R, G, B planes of 32x32). */
  images: Uint8Array;
  labels: Int32Array;
  count: number;
  classes: number;
}

/** Reads a split from the folder `ensureDataset` returned; `limit` keeps the first images (reading only those). */
export function loadSplit(dir: string, name: DatasetName | DatasetSpec, split: Split, limit?: number): SplitData {
  const spec = specOf(name);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new DatasetError(`loadSplit: limit must be an integer >= 0, got ${limit}`);
  const rb = recordBytes(spec);
  const files = spec.files.filter((f) => f.split === split).map((f) => {
    const path = join(dir, f.name);
    if (!existsSync(path)) throw new DatasetError(`loadSplit: ${spec.name} ${split}: ${path} not found; run 'advfree data ${spec.name}' first`);
    const size = statSync(path).size;
    if (size % rb !== 0) throw new DatasetError(`loadSplit: ${f.name}: ${size} bytes is not a whole number of ${rb}-byte records (truncated?) at ${path}`);
    return { path, records: size / rb };
  });
  const total = files.reduce((s, f) => s + f.records, 0);
  const count = Math.min(limit ?? total, total);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Int32Array(count);
  let k = 0;
  for (const f of files) {
    if (k === count) break;
    const n = Math.min(f.records, count - k);
    const buf = readPrefix(f.path, n * rb);
    for (let r = 0; r < n; r++, k++) {
      const label = buf[r * rb + spec.labelBytes - 1];
      if (label >= spec.classes) throw new DatasetError(`loadSplit: ${f.path}: record ${r} has label ${label}, expected < ${spec.classes}`);
      labels[k] = label;
      images.set(buf.subarray(r * rb + spec.labelBytes, (r + 1) * rb), k * IMAGE_BYTES);
    }
  }
  return { images, labels, count, classes: spec.classes };
}

function readPrefix(path: string, bytes: number): Uint8Array {
  const buf = new Uint8Array(bytes);
  const fd = openSync(path, 'r');
  try {
    for (let off = 0; off < bytes; ) {
      const got = readSync(fd, buf, off, bytes - off, off);
      if (got === 0) throw new DatasetError(`loadSplit: ${path} ended after ${off} of ${bytes} bytes`);
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}
