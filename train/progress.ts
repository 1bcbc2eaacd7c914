// Progress reporting for long training runs, on stderr so stdout stays clean for results. On a terminal, one
// line redrawn in place; elsewhere (CI logs, redirected files) plain lines every N seconds or steps, since
// carriage-return redraws turn a log file into one enormous line.

/** The part of a stream the reporter uses (process.stderr, or a fake in tests). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Terminal width: the bar is cut to fit, since a wrapped line can no longer be redrawn with '\r'. */
  columns?: number;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  epochs: number;
  stepsPerEpoch: number;
  /** Not a TTY: print a line at least this often (default 30 s). */
  intervalSeconds?: number;
  /** Not a TTY: also print every this many steps (default: by time only). */
  intervalSteps?: number;
  /** Milliseconds; injectable for tests. */
  clock?: () => number;
}

export interface ProgressUpdate {
  /** 1-based epoch. */
  epoch: number;
  /** Steps done in this epoch, 1..stepsPerEpoch. */
  step: number;
  /** Images processed since the start of the run (for img/s). */
  images: number;
  loss: number;
  /** Running accuracy in [0, 1]. */
  accuracy: number;
}

/** A TTY redraw at most this often: redrawing per step would cost more than fast steps themselves. */
const REDRAW_MS = 100;
const BAR_WIDTH = 20;

/** Seconds as hh:mm:ss (hours grow past 99 as needed); '--:--:--' when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--:--';
  const s = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/** A rate with about three significant digits: 0.52, 12.3, 845, 12.3k, 1.23M; '-' when unknown. */
export function formatRate(perSecond: number, unit = 'img/s'): string {
  const r = perSecond;
  let v: string;
  if (!Number.isFinite(r) || r < 0) v = '-';
  else if (r >= 999_500) v = `${(r / 1e6).toPrecision(3)}M`;
  else if (r >= 9_999.5) v = `${(r / 1e3).toPrecision(3)}k`;
  else if (r >= 99.95) v = r.toFixed(0);
  else if (r >= 9.995) v = r.toFixed(1);
  else v = r.toFixed(2);
  return `${v} ${unit}`;
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly clock: () => number;
  private readonly start: number;
  private last: ProgressUpdate | null = null;
  private lastPrintTime = -Infinity;
  /** Overall step count at the last plain line, or -1 before the first. */
  private lastPrintStep = -1;
  /** Whether the current state has been shown (a TTY bar on screen, or a plain line printed). */
  private shown = false;
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {
    for (const k of ['epochs', 'stepsPerEpoch'] as const) {
      if (!(Number.isInteger(opts[k]) && opts[k] > 0))
        throw new Error(`progress: ${k} must be a positive integer, got ${opts[k]}`);
    }
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.clock = opts.clock ?? Date.now;
    this.start = this.clock();
  }

  update(u: ProgressUpdate): void {
    if (this.finished) return;
    this.last = u;
    this.shown = false;
    const now = this.clock();
    const endOfEpoch = u.step === this.opts.stepsPerEpoch;
    if (this.tty) {
      if (endOfEpoch || now - this.lastPrintTime >= REDRAW_MS) this.draw(now);
      return;
    }
    const overall = this.overallStep(u);
    const dueByTime = now - this.lastPrintTime >= (this.opts.intervalSeconds ?? 30) * 1000;
    const dueBySteps = this.opts.intervalSteps !== undefined && overall - this.lastPrintStep >= this.opts.intervalSteps;
    if (this.lastPrintStep < 0 || endOfEpoch || dueByTime || dueBySteps) this.print(now);
  }

  /** Prints a line of its own; on a TTY the bar is cleared first and redrawn below it. */
  log(line: string): void {
    if (this.tty && this.last && !this.finished) {
      this.stream.write(`\r\x1b[K${line}\n`);
      this.draw(this.clock());
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Shows the final state and ends the bar's line; later updates are ignored. */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.last) return;
    if (this.tty) {
      this.draw(this.clock());
      this.stream.write('\n');
    } else if (!this.shown) {
      this.print(this.clock());
    }
  }

  private overallStep(u: ProgressUpdate): number {
    return (u.epoch - 1) * this.opts.stepsPerEpoch + u.step;
  }

  private draw(now: number): void {
    const u = this.last!;
    const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round((BAR_WIDTH * u.step) / this.opts.stepsPerEpoch)));
    let line = `[${'='.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${this.status(u, now)}`;
    if (this.stream.columns) line = line.slice(0, Math.max(0, this.stream.columns - 1));
    this.stream.write(`\r${line}\x1b[K`);
    this.lastPrintTime = now;
    this.shown = true;
  }

  private print(now: number): void {
    const u = this.last!;
    this.stream.write(`[${formatDuration((now - this.start) / 1000)}] ${this.status(u, now)}\n`);
    this.lastPrintTime = now;
    this.lastPrintStep = this.overallStep(u);
    this.shown = true;
  }

  private status(u: ProgressUpdate, now: number): string {
    const { epochs, stepsPerEpoch } = this.opts;
    const elapsed = (now - this.start) / 1000;
    const done = this.overallStep(u);
    const eta = done > 0 && elapsed > 0 ? (elapsed * (epochs * stepsPerEpoch - done)) / done : NaN;
    const acc = Number.isFinite(u.accuracy) ? `${(100 * u.accuracy).toFixed(1)}%` : '-';
    return (
      `epoch ${u.epoch}/${epochs} step ${u.step}/${stepsPerEpoch} | ${formatRate(elapsed > 0 ? u.images / elapsed : NaN)}` +
      ` | loss ${u.loss.toFixed(4)} | acc ${acc} | ETA ${formatDuration(eta)}`
    );
  }
}
