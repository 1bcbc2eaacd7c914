// The run's metrics sink, DIR/metrics.jsonl: one JSON object per line, each carrying the run id (made at the
// run's start, kept across resumes) and the global step, so lines of different runs or attempts never mix.
import { appendFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/** A run id: the UTC start time and 6 random hex digits, e.g. '20261201T0912Z-3fa2c1'. */
export const newRunId = (): string => `${new Date().toISOString().slice(0, 16).replace(/[-:]/g, '')}Z-${randomBytes(3).toString('hex')}`;

export class Metrics {
  constructor(
    readonly file: string,
    readonly run: string,
  ) {}

  /** Appends {run, type, step, ...fields}. */
  emit(type: string, step: number, fields: Record<string, unknown> = {}): void {
    appendFileSync(this.file, `${JSON.stringify({ run: this.run, type, step, ...fields })}\n`);
  }
}
