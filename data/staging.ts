// Staging folders: each fetch fills its own folder next to the cache (the pid in its name marks whose it is), so
// the final rename stays on one filesystem and a killed run leaves nothing half-written in the cache. Like
// rsync's temporary files, a staging folder is removed when its fetch ends in any way: done, failed, or stopped
// by SIGINT/SIGTERM/SIGHUP; one left by a process killed outright is removed by the next fetch.
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { onStop } from './on-stop.js';

/** A file ready for verification, and where it came from (for error messages). */
export interface Staged {
  path: string;
  origin: string;
}

const STAGING = /^\.staging-(\d+)-/;

/** Runs `fill` with a new staging folder under the cache root, which is removed afterwards, or when a signal stops it. */
export async function withStaging<T>(root: string, fill: (staging: string) => Promise<T>): Promise<T> {
  const staging = await mkdtemp(join(root, `.staging-${process.pid}-`));
  const forget = onStop(() => rmSync(staging, { recursive: true, force: true }));
  try {
    return await fill(staging);
  } finally {
    forget();
    await rm(staging, { recursive: true, force: true });
  }
}

/** Removes staging folders left by runs that were killed (their process is gone). */
export async function removeStaleStaging(root: string): Promise<void> {
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
