// Checks a dataset file's contents against the catalogue: size, label bytes and (where published) SHA-256.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { recordBytes, type DatasetFile, type DatasetSpec } from './catalogue.js';
import { DatasetError } from './errors.js';

/** Checks size, label bytes and SHA-256 of a file's contents; throws a DatasetError naming the file and `where`. */
export function verifyBytes(bytes: Uint8Array, file: DatasetFile, spec: DatasetSpec, where: string): void {
  const rb = recordBytes(spec);
  const want = file.records * rb;
  if (bytes.length !== want) {
    const what = bytes.length < want ? 'truncated' : 'too long';
    throw new DatasetError(`${file.name}: ${what}: ${bytes.length} bytes, expected ${want} (${file.records} records of ${rb} bytes) (${where})`);
  }
  for (let r = 0; r < file.records; r++) {
    for (let j = 0; j < spec.labelBytes; j++) {
      const v = bytes[r * rb + j];
      if (v >= spec.labelRanges[j]) {
        throw new DatasetError(`${file.name}: record ${r} has label byte ${j} = ${v}, expected < ${spec.labelRanges[j]} (${where})`);
      }
    }
  }
  if (file.sha256) {
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== file.sha256) throw new DatasetError(`${file.name}: SHA-256 mismatch: got ${got}, expected ${file.sha256} (${where})`);
  }
}

/** `verifyBytes` on a file; `where` defaults to its path. */
export async function verifyFile(path: string, file: DatasetFile, spec: DatasetSpec, where = path): Promise<void> {
  verifyBytes(await readFile(path), file, spec, where);
}
