// Reading .safetensors files and checking the tensors they hold, shared by the model checkpoint (nn/checkpoint.ts,
// nn/checkpoint-reader.ts) and the training state (train/train-state.ts): errors name the file, the tensor and
// both shapes.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSafetensors, type SafetensorsDtype } from './safetensors.js';

export interface TensorSpec {
  dtype: SafetensorsDtype;
  shape: readonly number[];
}

const fmtSpec = (s: TensorSpec): string => `${s.dtype} [${s.shape.join(',')}]`;

/**
 * Throws unless `found` (a file's tensors) holds exactly the `expected` names with the same dtypes and shapes;
 * names for which `optional` is true may be missing. The message names the first difference in `expected`
 * order (then unexpected names, sorted) and counts them all.
 */
export function checkTensorSet(
  file: string,
  what: string,
  found: Record<string, TensorSpec>,
  expected: [string, TensorSpec][],
  hint = '',
  optional: (name: string) => boolean = () => false,
): void {
  const problems: string[] = [];
  let missing = 0;
  let differ = 0;
  for (const [name, want] of expected) {
    const got = Object.hasOwn(found, name) ? found[name] : undefined;
    if (!got) {
      if (optional(name)) continue;
      missing++;
      problems.push(`tensor '${name}' (${fmtSpec(want)}) is missing from the file`);
    } else if (fmtSpec(got) !== fmtSpec(want)) {
      differ++;
      problems.push(`tensor '${name}' is ${fmtSpec(got)} in the file, ${what} expects ${fmtSpec(want)}`);
    }
  }
  const known = new Set(expected.map(([name]) => name));
  const unexpected = Object.keys(found)
    .filter((name) => !known.has(name))
    .sort();
  for (const name of unexpected)
    problems.push(`tensor '${name}' (${fmtSpec(found[name])}) in the file is not in ${what}`);
  if (problems.length === 0) return;
  throw new Error(
    `${file}: does not match ${what}${hint}: ${problems[0]} ` +
      `(in all ${differ} tensors of another shape or dtype, ${missing} missing, ${unexpected.length} unexpected)`,
  );
}

/** What a failed read of `path` means, in words, with the path (instead of Node's bare EISDIR or ENOENT). */
function readError(path: string, e: NodeJS.ErrnoException): Error {
  const why: Record<string, string> = {
    ENOENT: 'no such file',
    EISDIR: `is a folder, not a .safetensors file${existsSync(join(path, 'model.safetensors')) ? ` (the model is ${join(path, 'model.safetensors')})` : ''}`,
    EACCES: 'permission denied (cannot read the file)',
    EPERM: 'permission denied (cannot read the file)',
    ERR_FS_FILE_TOO_LARGE: 'over the 2 GiB a checkpoint may take here (files are read whole)',
  };
  return new Error(`${path}: ${why[e.code ?? ''] ?? e.message}`, { cause: e });
}

/** Reads and decodes a .safetensors file; errors name the file. */
export async function readSafetensorsFile(path: string): Promise<ReturnType<typeof decodeSafetensors>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw readError(path, e as NodeJS.ErrnoException);
  }
  try {
    return decodeSafetensors(bytes);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Why a .safetensors file is not whole, from its header alone (cheap for a large file): missing, unreadable, or
 * of another size than its header declares (a write cut short). Null when the sizes agree; the full check is
 * readSafetensorsFile's.
 */
export function wholeFileProblem(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'is missing'
      : `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) < 8) return `is cut short (${size} bytes)`;
    const n = head.readBigUInt64LE(0);
    if (8n + n > BigInt(size)) return `is cut short (${size} bytes; its header alone declares ${8n + n})`;
    const text = Buffer.alloc(Number(n));
    readSync(fd, text, 0, text.length, 8);
    let header: Record<string, { data_offsets?: unknown }>;
    try {
      header = JSON.parse(text.toString('utf8'));
    } catch {
      return 'has a header that is not JSON';
    }
    const ends = Object.entries(header ?? {})
      .filter(([k]) => k !== '__metadata__')
      .map(([, v]) => (Array.isArray(v?.data_offsets) ? Number(v.data_offsets[1]) : 0));
    const want = 8 + text.length + Math.max(0, ...ends);
    return want === size
      ? null
      : `is ${size < want ? 'cut short' : 'longer than its header declares'} (${size} bytes; its header declares ${want})`;
  } finally {
    closeSync(fd);
  }
}
