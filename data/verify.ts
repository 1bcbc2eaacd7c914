// Checks a dataset file's contents against the catalogue: size, label bytes and (where published) SHA-256.
import { createHash } from 'node:crypto';
import { recordBytes, type DatasetFile, type DatasetSpec } from './catalogue.js';
import { DatasetError } from './errors.js';

/** What is wrong with a file's contents (size, a label byte, the SHA-256), or undefined when they check out. */
export function bytesProblem(bytes: Uint8Array, file: DatasetFile, spec: DatasetSpec): string | undefined {
  const rb = recordBytes(spec);
  const want = file.records * rb;
  if (bytes.length !== want) {
    const what = bytes.length < want ? 'truncated' : 'too long';
    return `${what}: ${bytes.length} bytes, expected ${want} (${file.records} records of ${rb} bytes)`;
  }
  for (let r = 0; r < file.records; r++) {
    for (let j = 0; j < spec.labelBytes; j++) {
      const v = bytes[r * rb + j];
      if (v >= spec.labelRanges[j]) return `record ${r} has label byte ${j} = ${v}, expected < ${spec.labelRanges[j]}`;
    }
  }
  if (file.sha256) {
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== file.sha256) return `SHA-256 mismatch: got ${got}, expected ${file.sha256}`;
  }
  return undefined;
}

/** `bytesProblem` as a DatasetError naming the file and `where` it came from. */
export function verifyBytes(bytes: Uint8Array, file: DatasetFile, spec: DatasetSpec, where: string): void {
  const problem = bytesProblem(bytes, file, spec);
  if (problem) throw new DatasetError(`${file.name}: ${problem} (${where})`);
}
