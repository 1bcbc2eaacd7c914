// The IDX format of MNIST and Fashion-MNIST (LeCun's): two zero bytes, the element type (0x08: unsigned byte),
// the number of dimensions, each dimension as a big-endian uint32, then the elements row-major.
import type { CacheFile, CacheSpec, RemoteSource } from '../cache-spec.js';
import { readCached } from '../cache.js';
import {
  defineDataset,
  limitSplit,
  unitBox,
  type DatasetDescriptor,
  type SplitData,
  type ThreatDefaults,
} from '../dataset.js';
import { DatasetError } from '../errors.js';

/** The dimensions and the elements of an unsigned-byte IDX file, or a description of what is wrong with it. */
export function parseIdx(bytes: Uint8Array): { dims: number[]; data: Uint8Array } | string {
  if (bytes.length < 4) return `${bytes.length} bytes is too short for an IDX header`;
  if (bytes[0] !== 0 || bytes[1] !== 0) return `does not start with the IDX magic 00 00 (got ${bytes[0]} ${bytes[1]})`;
  if (bytes[2] !== 0x08) return `element type 0x${bytes[2].toString(16)} is not 0x08 (unsigned byte)`;
  const n = bytes[3];
  const head = 4 + 4 * n;
  if (bytes.length < head) return `${bytes.length} bytes is too short for ${n} dimensions`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: n }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = head + dims.reduce((a, d) => a * d, 1);
  if (bytes.length !== size) return `${bytes.length} bytes, expected ${size} for dimensions [${dims.join(', ')}]`;
  return { dims, data: bytes.subarray(head) };
}

/** The cache's check of an IDX file: its dimensions must be `dims` (and labels below `classes`). */
function idxProblem(bytes: Uint8Array, dims: number[], classes?: number): string | undefined {
  const p = parseIdx(bytes);
  if (typeof p === 'string') return p;
  if (p.dims.join(',') !== dims.join(',')) return `dimensions [${p.dims.join(', ')}], expected [${dims.join(', ')}]`;
  if (classes !== undefined) {
    const bad = p.data.findIndex((v) => v >= classes);
    if (bad >= 0) return `label ${bad} is ${p.data[bad]}, expected < ${classes}`;
  }
  return undefined;
}

export interface IdxDatasetSpec {
  name: string;
  summary: string;
  folder: string;
  classes: readonly string[];
  /** [H, W] of one image. */
  size: [number, number];
  rows: { train: number; test: number };
  /** SHA-256 of the (decompressed) files: train images, train labels, test images, test labels. */
  sha256: { trainImages: string; trainLabels: string; testImages: string; testLabels: string };
  remote: RemoteSource[];
  /** The files are gzipped in the sources (NAME.gz); the cache keeps them decompressed. */
  gzipped: boolean;
  threat: ThreatDefaults;
  model: string;
}

/** A grey-scale image dataset in the four IDX files of MNIST's layout. */
export function idxDataset(s: IdxDatasetSpec): DatasetDescriptor {
  const [h, w] = s.size;
  const file = (prefix: 'train' | 't10k', kind: 'images' | 'labels', sha256: string, n: number): CacheFile => {
    const name = kind === 'images' ? `${prefix}-images-idx3-ubyte` : `${prefix}-labels-idx1-ubyte`;
    const dims = kind === 'images' ? [n, h, w] : [n];
    return {
      name,
      sha256,
      from: s.gzipped ? `${name}.gz` : undefined,
      check: (b) => idxProblem(b, dims, kind === 'labels' ? s.classes.length : undefined),
    };
  };
  const files = [
    file('train', 'images', s.sha256.trainImages, s.rows.train),
    file('train', 'labels', s.sha256.trainLabels, s.rows.train),
    file('t10k', 'images', s.sha256.testImages, s.rows.test),
    file('t10k', 'labels', s.sha256.testLabels, s.rows.test),
  ];
  const cache: CacheSpec = {
    name: s.name,
    folder: s.folder,
    files,
    remote: s.remote,
    sourceHint: `a local folder holding the four IDX files (${files.map((f) => f.from ?? f.name).join(', ')})`,
  };
  const shape = [1, h, w] as const;
  const split = (dir: string, images: CacheFile, labels: CacheFile): SplitData => {
    const read = (f: CacheFile) => {
      const p = parseIdx(readCached(dir, f.name, s.name));
      if (typeof p === 'string')
        throw new DatasetError(`${dir}/${f.name}: ${p}; run 'advfree data ${s.name}' to verify the cache`);
      return p.data;
    };
    const x = read(images);
    const y = Int32Array.from(read(labels));
    return { x, y, count: y.length, classes: s.classes.length, shape };
  };
  return defineDataset({
    name: s.name,
    summary: s.summary,
    kind: 'image',
    classes: s.classes,
    rows: s.rows,
    shape,
    cache,
    augment: null,
    threat: s.threat,
    model: s.model,
    load: (dir, o) => ({
      train: limitSplit(split(dir, files[0], files[1]), o.trainLimit),
      test: limitSplit(split(dir, files[2], files[3]), o.testLimit),
      box: unitBox(shape),
      features: null,
      metadata: {},
    }),
  });
}
