// Sizes in words, and a full disk explained: which folder is full, how much the write needed and how much is
// free there, instead of a bare ENOSPC.
import { statfsSync } from 'node:fs';
import { errorCode } from './errors.js';

/** Bytes in the largest decimal unit that keeps the figure >= 1, with the exact count, for messages. */
export function fmtBytes(n: number): string {
  const units = ['KB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let i = -1;
  while (i + 1 < units.length && n >= 1e3 ** (i + 2)) i++;
  return i < 0 ? `${n} bytes` : `${(n / 1e3 ** (i + 1)).toPrecision(3)} ${units[i]} (${n} bytes)`;
}

/** Whether a failed write ran out of space (a full file system, or the user's quota). */
export const isDiskFull = (e: unknown): boolean => ['ENOSPC', 'EDQUOT'].includes(errorCode(e) ?? '');

/** Bytes an unprivileged write may still take in the file system holding `path`; null where it cannot be asked. */
export function freeBytes(path: string): number | null {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/**
 * "no space left on the device holding DIR (ENOSPC) while DOING: that needs [at least] X, and Y are free there";
 * `need` null where it is not known beforehand (a download).
 */
export function diskFullText(e: unknown, folder: string, doing: string, need: number | null, atLeast = false): string {
  const free = freeBytes(folder);
  const left =
    free === null
      ? 'how much is free there cannot be told'
      : `${fmtBytes(free)} ${free === 1 ? 'is' : 'are'} free there`;
  const needs =
    need === null
      ? 'how much that needs is not known beforehand'
      : `that needs ${atLeast ? 'at least ' : ''}${fmtBytes(need)}`;
  return `no space left on the device holding ${folder} (${errorCode(e)}) while ${doing}: ${needs}, and ${left}`;
}
