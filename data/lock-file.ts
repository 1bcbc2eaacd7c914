// Lock files on a (possibly shared) file system: created with O_EXCL, so of two processes one wins, even over NFS;
// the file names its holder (pid, host, start time and, under Slurm, the job id), so that a lock left by a process
// that is gone can be told from one in use. The run folder's lock refuses a second run; the data cache's waits.
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  /** SLURM_JOB_ID of the holder's job (one array task's own id), when it ran under Slurm. */
  job?: string;
}

/** The lock text of this process. */
export function lockText(): string {
  const job = process.env.SLURM_JOB_ID;
  return `${JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), ...(job ? { job } : {}) })}\n`;
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
    return Number.isSafeInteger(l.pid) && l.pid > 0 && typeof l.host === 'string' && typeof l.started === 'string' ? l : null;
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

/**
 * Whether the holder is known to be gone: a process of this host that no longer runs, or an earlier run of this
 * very Slurm job on another host (a requeued job keeps its id, and Slurm starts it again only after the earlier
 * run has ended). A holder on another host is otherwise taken to be running: that cannot be checked from here.
 */
export function holderGone(h: LockHolder): boolean {
  if (h.host === hostname()) return !alive(h.pid);
  return h.job !== undefined && h.job === process.env.SLURM_JOB_ID;
}

export const describeHolder = (h: LockHolder): string => `process ${h.pid} on ${h.host}, started ${h.started}${h.job ? `, Slurm job ${h.job}` : ''}`;

/** Removes the lock if it still holds `text` (another process may have taken it over since). */
export function releaseLock(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch {
    // Already gone: nothing to release.
  }
}

/** Removes a lock whose holder is gone (holderGone), saying so; returns whether it did. */
export function takeOverIfGone(path: string, note: (line: string) => void, what: string): boolean {
  const h = readLock(path);
  if (!h || !holderGone(h)) return false;
  note(`advfree: ${what}: taking over the lock of process ${h.pid}${h.host === hostname() ? '' : ` on ${h.host}`} (started ${h.started}), which no longer runs`);
  rmSync(path, { force: true });
  return true;
}

/**
 * Runs `fn` holding the lock `path`, waiting (polling every `pollMs`) while another live process holds it; says
 * once whom it waits for. The lock goes when `fn` settles, and at the exit of a process stopped on the way.
 */
export async function withLock<T>(path: string, what: string, log: (line: string) => void, fn: () => Promise<T>, pollMs = 250): Promise<T> {
  const text = lockText();
  let told = false;
  while (!createLock(path, text)) {
    if (takeOverIfGone(path, log, what)) continue;
    if (!told) {
      const h = readLock(path);
      log(`${what}: waiting for ${h ? describeHolder(h) : 'another process'}, which holds ${path} (if no such process runs, delete that file)`);
      told = true;
    }
    await new Promise((res) => setTimeout(res, pollMs));
  }
  const release = () => releaseLock(path, text);
  process.once('exit', release);
  try {
    return await fn();
  } finally {
    process.removeListener('exit', release);
    release();
  }
}
