// The dataset cache: makes sure a dataset's files are in the cache folder and verified, fetching the missing ones
// from the first source that works (like torchvision's download=True). Files reach the cache only by rename after
// their format check and pinned SHA-256 pass. Nothing in the cache is ever deleted: a file
// that cannot be read is reported as such, and a damaged one is moved aside once a verified copy replaces it.
import { constants, readFileSync } from 'node:fs';
import { access, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { asidePath } from './aside.js';
import type { CacheFile, CacheSpec } from './cache-spec.js';
import { diskFullText, isDiskFull } from './disk-space.js';
import { DatasetError, errorCode, fsProblem } from './errors.js';
import { sources, type SourceOptions } from './sources.js';
import { withLock } from './lock-file.js';
import { removeStaleStaging, withStaging } from './staging.js';
import { bytesProblem, verifyBytes } from './verify.js';

export interface EnsureOptions extends SourceOptions {
  /** Cache folder (default: env ADVFREE_DATA, else ~/.cache/advfree). */
  dataDir?: string;
  log?: (msg: string) => void;
}

export const defaultDataDir = (): string => resolve(process.env.ADVFREE_DATA || join(homedir(), '.cache', 'advfree'));

const ELSEWHERE = 'point --data-dir (or ADVFREE_DATA) at another folder';
/** Held while files are fetched into the cache (lock-file.ts). */
const FETCH_LOCK = '.fetch-lock';

/**
 * Throws a DatasetError naming `what`, its path and the real problem unless `path` is a folder this process may
 * use with `mode` (R_OK, W_OK, ...) or does not exist yet (it is created when needed).
 */
async function checkFolder(path: string, what: string, mode: number, verb: string): Promise<void> {
  let problem: string;
  let fix = 'move it away or ';
  try {
    if ((await stat(path)).isDirectory()) {
      await access(path, mode);
      return;
    }
    problem = 'is a file, not a folder';
  } catch (e) {
    const code = errorCode(e);
    if (code === 'ENOENT') return;
    problem = fsProblem(e, verb);
    if (code === 'EACCES' || code === 'EPERM') fix = `fix its permissions (chmod u+rwx ${path}) or `;
    else if (code !== 'ENOTDIR') fix = '';
  }
  throw new DatasetError(`${what} ${path} ${problem}: ${fix}${ELSEWHERE}`);
}

/** Renames a damaged cached file to NAME.corrupt-<UTC time> (never over an existing file); returns the new path. */
async function moveAside(path: string): Promise<string> {
  const aside = asidePath(path, 'corrupt');
  await rename(path, aside);
  return aside;
}

/**
 * Makes sure the dataset's files are in the cache and verified; returns their folder. Already cached files
 * are re-verified: one that fails is replaced by a verified copy from the sources and kept beside it as
 * NAME.corrupt-<time>; one that cannot be read (permissions, I/O, a folder in its place) stops with an error.
 */
export function ensureDataset(spec: CacheSpec, opts: EnsureOptions = {}): Promise<string> {
  return ensure(spec, opts, false);
}

/**
 * ensureDataset; `locked`: this process holds the cache's fetch lock. Files are fetched only under that lock, so
 * that processes sharing the cache (a cluster's tasks) fetch a dataset once: the others wait, then find it cached.
 */
async function ensure(spec: CacheSpec, opts: EnsureOptions, locked: boolean): Promise<string> {
  const log = opts.log ?? (() => {});
  const root = resolve(opts.dataDir ?? defaultDataDir());
  const dir = join(root, spec.folder);
  const readable = constants.R_OK | constants.X_OK;
  await checkFolder(root, 'the data folder', readable, 'read');
  try {
    await mkdir(root, { recursive: true });
  } catch (e) {
    throw new DatasetError(`the data folder ${root} ${fsProblem(e, 'created')}: ${ELSEWHERE}`);
  }
  await checkFolder(dir, `the ${spec.name} folder`, readable, 'read');

  const need: CacheFile[] = [];
  /** Cached files that read but fail verification, with why: kept until a verified copy is in hand. */
  const damaged = new Map<string, string>();
  const unreadable: string[] = [];
  for (const f of spec.files) {
    const p = join(dir, f.name);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(p);
    } catch (e) {
      if (errorCode(e) === 'ENOENT') need.push(f);
      else unreadable.push(`${p} ${fsProblem(e, 'read')}`);
      continue;
    }
    const problem = bytesProblem(bytes, f);
    if (problem) {
      // Said once: under the lock this is the second look.
      if (!locked)
        log(
          `cached ${p} failed verification (${problem}); fetching a verified copy (the damaged file stays until one is in hand)`,
        );
      damaged.set(f.name, problem);
      need.push(f);
    }
  }
  if (unreadable.length) {
    throw new DatasetError(
      `${spec.name}: cannot read the cache (nothing was deleted):\n  ${unreadable.join('\n  ')}\n` +
        'Fix the permissions or the disk, or move the entry away yourself so that the file is fetched again.',
    );
  }
  if (need.length === 0) {
    log(`${spec.name}: ${spec.files.length} verified files in ${dir}`);
    return dir;
  }
  await checkFolder(root, 'the data folder', constants.W_OK, 'written');
  await checkFolder(dir, `the ${spec.name} folder`, constants.W_OK, 'written');
  if (!locked)
    return withLock(join(root, FETCH_LOCK), `${spec.name}: the data cache ${root}`, log, () =>
      ensure(spec, opts, true),
    );
  // Only under the lock: a staging folder whose pid is not alive here may be another host's fetch in progress.
  await removeStaleStaging(root);

  const errors: string[] = [];
  for (const src of sources(spec, opts, need, log)) {
    try {
      return await withStaging(root, async (staging) => {
        const staged = await src.stage(staging);
        for (const [i, f] of need.entries()) verifyBytes(await readFile(staged[i].path), f, staged[i].origin);
        await mkdir(dir, { recursive: true });
        for (const [i, f] of need.entries()) {
          const to = join(dir, f.name);
          if (damaged.delete(f.name)) log(`moved the damaged ${to} aside to ${await moveAside(to)}`);
          await rename(staged[i].path, to);
          log(`verified ${f.name}${f.sha256 ? ` (SHA-256 ${f.sha256})` : ''}`);
        }
        log(`${spec.name}: ready in ${dir} (from ${src.label})`);
        return dir;
      });
    } catch (e) {
      // No other source needs less space: stop here, with the sizes.
      if (isDiskFull(e)) {
        throw new DatasetError(
          `${spec.name}: ${diskFullText(e, root, `staging ${need.map((f) => f.name).join(', ')} from ${src.label}`, src.bytes ?? null, true)}. ` +
            `The partial staging folder was removed and nothing in the cache changed: free some space, or ${ELSEWHERE}`,
        );
      }
      const msg = `${src.label}: ${(e as Error).message}`;
      errors.push(msg);
      log(`${msg}; trying the next source`);
    }
  }
  const what = spec.sourceHint;
  const hint = damaged.size
    ? [...damaged].map(([f, why]) => `\n${join(dir, f)} failed verification (${why}) and stays where it is.`).join('') +
      `\nSupply a good copy: advfree data ${spec.name} --source PATH (${what}).`
    : opts.remote === false
      ? ''
      : `\nPass ${what} as the source (--source DIR).`;
  throw new DatasetError(
    `${spec.name}: could not get ${need.map((f) => f.name).join(', ')} into ${dir}:\n  ${
      errors.length ? errors.join('\n  ') : 'no source given and network sources are off'
    }${hint}`,
  );
}

/** A verified file of the cache folder `dir` (from ensureDataset), read whole; errors name the file and the fix. */
export function readCached(dir: string, name: string, dataset: string): Uint8Array {
  const path = join(dir, name);
  try {
    return readFileSync(path);
  } catch (e) {
    if (errorCode(e) === 'ENOENT')
      throw new DatasetError(`${dataset}: ${path} not found; run 'advfree data ${dataset}' first`);
    throw new DatasetError(`${dataset}: ${path} ${fsProblem(e, 'read')}`);
  }
}
