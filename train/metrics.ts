// The run's metrics sink, DIR/metrics.jsonl: one JSON object per line, each carrying the run id (made at the
// run's start, kept across resumes) and the global step, so lines of different runs or attempts never mix.
// A write cut short (a kill, a full disk) leaves a last line without its newline: readers skip it with a
// warning, and the next writer moves its bytes to metrics.jsonl.torn-<time> before appending on a line of its own.
import {
  appendFileSync,
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { asidePath } from '../data/aside.js';

/** A run id: the UTC start time and 6 random hex digits, e.g. '20261201T0912Z-3fa2c1'. */
export const newRunId = (): string =>
  `${new Date().toISOString().slice(0, 16).replace(/[-:]/g, '')}Z-${randomBytes(3).toString('hex')}`;

export type MetricsLine = Record<string, unknown>;

const isLine = (v: unknown): v is MetricsLine => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The file's bytes; errors name the file and say what it is instead. */
function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'not found'
        : code === 'EISDIR'
          ? 'is a folder, not a metrics file'
          : `cannot be read (${code ?? (e as Error).message})`;
    throw new Error(`${file} ${why}; give run folders written by 'advfree train'`, { cause: e });
  }
}

/**
 * The JSON objects of a metrics file, in order. A last line cut short (no newline, not JSON) is skipped with a
 * `warn`ing; any other line that is not a JSON object is an error naming the file and the line.
 */
export function readMetricsFile(file: string, warn: (line: string) => void): MetricsLine[] {
  const text = readBytes(file).toString('utf8');
  const lines = text.split('\n');
  return lines.flatMap((line, i) => {
    if (!line.trim()) return [];
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) {
        warn(
          `${file} line ${i + 1} is cut short (${Buffer.byteLength(line)} bytes without a newline: a write interrupted by a kill or a full disk); skipped`,
        );
        return [];
      }
      throw new Error(`${file} line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
    }
    if (!isLine(value))
      throw new Error(
        `${file} line ${i + 1} is ${JSON.stringify(value)?.slice(0, 80)}, not a metrics object ({"type": ...})`,
      );
    return [value];
  });
}

/**
 * Makes `file` end with a newline before anything is appended: a last line cut short is moved, byte for byte,
 * to FILE.torn-<time> (fsynced before the file is truncated to its last whole line). Returns a note, or null.
 */
function setAsideTornLine(file: string): string | null {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return null;
  }
  if (size === 0) return null;
  const bytes = readFileSync(file);
  const end = bytes.lastIndexOf(0x0a) + 1;
  if (end === bytes.length) return null;
  const tail = bytes.subarray(end);
  const line = bytes.subarray(0, end).toString('utf8').split('\n').length;
  let complete = false;
  try {
    complete = isLine(JSON.parse(tail.toString('utf8')));
  } catch {
    // Cut short: set aside below.
  }
  if (complete) {
    // Only the newline was lost.
    appendFileSync(file, '\n');
    return null;
  }
  const aside = asidePath(file, 'torn');
  const fd = openSync(aside, 'wx');
  try {
    writeSync(fd, tail);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  truncateSync(file, end);
  return `advfree: ${file} line ${line} was cut short (${tail.length} bytes without a newline: a write interrupted by a kill or a full disk); moved those bytes to ${aside}, new lines start after line ${line - 1}`;
}

export class Metrics {
  private checked = false;

  constructor(
    readonly file: string,
    readonly run: string,
    /** Where the note of a torn last line goes. */
    private readonly note: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  ) {}

  /** Appends {run, type, step, ...fields}. */
  emit(type: string, step: number, fields: Record<string, unknown> = {}): void {
    if (!this.checked) {
      const torn = setAsideTornLine(this.file);
      if (torn) this.note(torn);
      this.checked = true;
    }
    appendFileSync(this.file, `${JSON.stringify({ run: this.run, type, step, ...fields })}\n`);
  }
}
