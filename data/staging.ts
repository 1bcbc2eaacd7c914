// Staging folders: each fetch fills its own folder next to the cache (the pid in its name marks whose it is), so
// the final rename stays on one filesystem and a killed run leaves nothing half-written in the cache.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** A file ready for verification, and where it came from (for error messages). */
export interface Staged {
  path: string;
  origin: string;
}

const STAGING = /^\.staging-(\d+)-/;

/** A new staging folder under the cache root. */
export const newStaging = (root: string): Promise<string> => mkdtemp(join(root, `.staging-${process.pid}-`));

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
