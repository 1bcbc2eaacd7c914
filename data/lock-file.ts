// Lock files on a (possibly shared) file system: created with O_EXCL, so of two processes one wins, even over NFS;
// the file names its holder (pid, host, start time and, under Slurm, the job id), so that a lock left by a process
// that is gone can be told from one in use. The run folder's lock refuses a second run; the data cache's waits.
// Pids are reused: like git's lock files, a lock is taken over only when provably stale, so it also records what
// identifies the process on Linux beyond its pid, its start in clock ticks since boot (/proc/PID/stat field 22)
// and the boot id; a live pid that is another process (or a machine restarted since) makes the lock stale.
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { onStop } from './on-stop.js';

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  /** SLURM_JOB_ID of the holder's job (one array task's own id), when it ran under Slurm. */
  job?: string;
  /** /proc/sys/kernel/random/boot_id when the lock was written (absent in locks of older versions, and without /proc). */
  boot?: string;
  /** The holder's start in clock ticks since boot (/proc/PID/stat field 22). */
  pidStart?: string;
}

const readText = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** This boot's id; null without /proc. */
const bootId = (): string | null => readText('/proc/sys/kernel/random/boot_id')?.trim() ?? null;

/** Field 22 of /proc/PID/stat: the process's start in clock ticks since boot; null if it cannot be read. */
function startTicks(pid: number): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  // The command name (field 2) is in parentheses and may hold spaces: fields 3.. follow the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3] ?? null;
}

/** /proc reports ticks of USER_HZ, which is 100 on every Linux architecture Node runs on. */
const USER_HZ = 100;

/** When process `pid` started, from its start ticks and the boot time (/proc/stat btime); null without /proc. */
function startTime(pid: number): Date | null {
  const ticks = startTicks(pid);
  const btime = /^btime (\d+)$/m.exec(readText('/proc/stat') ?? '')?.[1];
  return ticks && btime ? new Date(Number(btime) * 1000 + (Number(ticks) * 1000) / USER_HZ) : null;
}

/** The lock text of this process. */
export function lockText(): string {
  const job = process.env.SLURM_JOB_ID;
  const boot = bootId();
  const pidStart = startTicks(process.pid);
  return `${JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), ...(job ? { job } : {}), ...(boot ? { boot } : {}), ...(pidStart ? { pidStart } : {}) })}\n`;
}

/** Creates `path` holding `text` if no such file exists; false if one does. */
export function createLock(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`${path}: cannot create the lock: ${(e as Error).message}`);
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The lock's holder; null if the file is gone, unreadable or (just being written) names no process. */
export function readLock(path: string): LockHolder | null {
  try {
    const l = JSON.parse(readFileSync(path, 'utf8'));
    const optional = (v: unknown) => v === undefined || typeof v === 'string';
    return Number.isSafeInteger(l.pid) &&
      l.pid > 0 &&
      typeof l.host === 'string' &&
      typeof l.started === 'string' &&
      optional(l.boot) &&
      optional(l.pidStart)
      ? l
      : null;
  } catch {
    return null;
  }
}

/** Whether process `pid` exists on this host (EPERM: it does, as another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock written more than this long before its pid's process started was written by another process. */
const CLOCK_SLACK_MS = 2000;

/**
 * What the holder is now: gone (with why: a process of this host that no longer runs, whose pid now names another
 * process because its start ticks differ or, in a lock of an older version, it started after the lock was written,
 * a lock from before this machine restarted, or an earlier run of this very Slurm job on another host, which Slurm
 * restarts only after the earlier run has ended), or running: `verified` when it is known to be the process that
 * wrote the lock, so that stopping it stops that run. A holder on another host is taken to be running, unverified.
 */
export function holderState(h: LockHolder): { gone: string } | { verified: boolean } {
  if (h.host !== hostname())
    return h.job !== undefined && h.job === process.env.SLURM_JOB_ID
      ? { gone: 'which no longer runs' }
      : { verified: false };
  if (!alive(h.pid)) return { gone: 'which no longer runs' };
  const boot = bootId();
  if (h.boot && boot && h.boot !== boot)
    return { gone: `written before this machine restarted (pid ${h.pid} now belongs to another process)` };
  const started = startTime(h.pid);
  const reused = {
    gone: `which no longer runs: pid ${h.pid} now belongs to another process${started ? `, started ${started.toISOString()}` : ''} (a reused pid)`,
  };
  if (h.pidStart !== undefined) {
    const now = startTicks(h.pid);
    return now === null ? { verified: false } : now === h.pidStart ? { verified: true } : reused;
  }
  if (!started) return { verified: false };
  return started.getTime() > Date.parse(h.started) + CLOCK_SLACK_MS ? reused : { verified: true };
}

export const holderGone = (h: LockHolder): boolean => 'gone' in holderState(h);

export const describeHolder = (h: LockHolder): string =>
  `process ${h.pid} on ${h.host}, started ${h.started}${h.job ? `, Slurm job ${h.job}` : ''}`;

/** Removes the lock if it still holds `text` (another process may have taken it over since). */
export function releaseLock(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch {
    // Already gone: nothing to release.
  }
}

/** Removes a lock whose holder is gone (holderState), saying so and why; returns whether it did. */
export function takeOverIfGone(path: string, note: (line: string) => void, what: string): boolean {
  const h = readLock(path);
  const state = h && holderState(h);
  if (!h || !state || !('gone' in state)) return false;
  note(
    `advfree: ${what}: taking over the lock of process ${h.pid}${h.host === hostname() ? '' : ` on ${h.host}`} (started ${h.started}), ${state.gone}`,
  );
  rmSync(path, { force: true });
  return true;
}

/**
 * Runs `fn` holding the lock `path`, waiting (polling every `pollMs`) while another live process holds it; says
 * once whom it waits for. The lock goes when `fn` settles, at exit, and when a signal stops the process (on-stop.ts).
 */
export async function withLock<T>(
  path: string,
  what: string,
  log: (line: string) => void,
  fn: () => Promise<T>,
  pollMs = 250,
): Promise<T> {
  const text = lockText();
  let told = false;
  while (!createLock(path, text)) {
    if (takeOverIfGone(path, log, what)) continue;
    if (!told) {
      const h = readLock(path);
      log(
        `${what}: waiting for ${h ? describeHolder(h) : 'another process'}, which holds ${path} (if no such process runs, delete that file)`,
      );
      told = true;
    }
    await new Promise((res) => setTimeout(res, pollMs));
  }
  const release = () => releaseLock(path, text);
  process.once('exit', release);
  const forget = onStop(release);
  try {
    return await fn();
  } finally {
    forget();
    process.removeListener('exit', release);
    release();
  }
}
