// The error the data functions throw (its message names the file or folder and the fix), and what a failed
// file-system call means in words, so that a permission or disk problem is never mistaken for a damaged file.
export class DatasetError extends Error {}

const CAUSES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'I/O error (the disk or network file system may be failing)',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ELOOP: 'too many symbolic links',
};

/** The node error code of `e` (EACCES, ENOENT, ...), if it has one. */
export const errorCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

/**
 * Why a path could not be used, as a phrase that follows it: "is a folder, not a file", "cannot be read:
 * permission denied (EACCES)". `verb` says what was attempted ("read", "written", "created").
 */
export function fsProblem(e: unknown, verb: string): string {
  const code = errorCode(e);
  if (code === 'EISDIR') return 'is a folder, not a file';
  if (code === 'ENOTDIR') return 'is not a folder (it or a folder above it is a file)';
  const cause = code && CAUSES[code];
  return `cannot be ${verb}: ${cause ? `${cause} (${code})` : (e as Error).message}`;
}
