// The dataset cache: makes sure a dataset's .bin files are in the cache folder and verified, fetching the
// missing ones from the first source that works (like torchvision's download=True). Files reach the cache only
// by rename after their size, labels and (CIFAR-10) SHA-256 check out.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { specOf, type DatasetFile, type DatasetName, type DatasetSpec } from './catalogue.js';
import { DatasetError } from './errors.js';
import { sources, type SourceOptions } from './sources.js';
import { newStaging, removeStaleStaging } from './staging.js';
import { verifyBytes, verifyFile } from './verify.js';

export interface EnsureOptions extends SourceOptions {
  /** Cache folder (default: env ADVFREE_DATA, else ~/.cache/advfree). */
  dataDir?: string;
  log?: (msg: string) => void;
}

export const defaultDataDir = (): string => resolve(process.env.ADVFREE_DATA || join(homedir(), '.cache', 'advfree'));

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
    const staging = await newStaging(root);
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
