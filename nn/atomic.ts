// Crash-safe file replacement for checkpoints: a run killed at any moment (kill -9, OOM killer, power loss after
// the fsyncs) leaves either the previous file or the complete new one at the path, never a truncated mix.
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `data` to `path` atomically: a temp file in the same directory (rename is only atomic within one file
 * system), fsynced before it is renamed over the target, then the directory fsynced so the rename itself is
 * durable. An existing target's permission bits are kept. On failure the temp file is removed and the target is
 * untouched. (A process killed mid-write can leave a hidden `.NAME.PID.RANDOM.tmp` behind, never a bad target.)
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const existingMode = await stat(path).then(
    (s) => s.mode & 0o7777,
    () => null,
  );
  let fh: FileHandle | null = await open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    if (existingMode !== null) await fh.chmod(existingMode);
    await fh.sync();
    await fh.close();
    fh = null;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dir);
}

/** Makes the entries of `dir` (a rename into it) durable. */
export async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
