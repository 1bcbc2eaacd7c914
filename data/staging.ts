// Staging folders: each fetch fills its own folder next to the cache (the pid in its name marks whose it is), so
// the final rename stays on one filesystem and a killed run leaves nothing half-written in the cache. Like
// rsync's temporary files, a staging folder is removed when its fetch ends in any way: done, failed, or stopped
// by SIGINT/SIGTERM/SIGHUP; one left by a process killed outright is removed by the next fetch.
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** A file ready for verification, and where it came from (for error messages). */
export interface Staged {
  path: string;
  origin: string;
}

const STAGING = /^\.staging-(\d+)-/;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs `fill` with a new staging folder under the cache root, which is removed afterwards, or when a signal stops it. */
export async function withStaging<T>(root: string, fill: (staging: string) => Promise<T>): Promise<T> {
  const staging = await mkdtemp(join(root, `.staging-${process.pid}-`));
  const onSignal = (signal: NodeJS.Signals) => {
    rmSync(staging, { recursive: true, force: true });
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    // Another listener owns the signal (a Slurm task that checkpoints before it exits): it ends the process.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  for (const s of SIGNALS) process.once(s, onSignal);
  try {
    return await fill(staging);
  } finally {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
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
