// Checks a dataset file's contents: the dataset's own format check (sizes, record layout, label ranges), then the
// pinned SHA-256.
import { createHash } from 'node:crypto';
import type { CacheFile } from './cache-spec.js';
import { DatasetError } from './errors.js';

/** What is wrong with a file's contents, or undefined when they check out. */
export function bytesProblem(bytes: Uint8Array, file: CacheFile): string | undefined {
  const problem = file.check?.(bytes);
  if (problem) return problem;
  if (file.sha256) {
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== file.sha256) return `SHA-256 mismatch: got ${got}, expected ${file.sha256}`;
  }
  return undefined;
}

/** `bytesProblem` as a DatasetError naming the file and `where` it came from. */
export function verifyBytes(bytes: Uint8Array, file: CacheFile, where: string): void {
  const problem = bytesProblem(bytes, file);
  if (problem) throw new DatasetError(`${file.name}: ${problem} (${where})`);
}
