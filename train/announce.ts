// The run's first metrics line: 'start' with the configuration, or 'resume' with where the run continues from and
// the settings changed. A resume that changes --epochs stretches the learning-rate schedule over the new length:
// said on the log.
import { relative } from 'node:path';
import type { Schedule } from '../nn/schedule.js';
import type { Metrics } from './metrics.js';
import { stretchNote, type Changed, type RunConfig } from './run-config.js';

/** Where a trainer was resumed from: the run folder, the checkpoint pair and the settings changed. */
export interface Resumed {
  dir: string;
  pair: string;
  changed: Changed;
}

export interface RunStart {
  config: RunConfig;
  commit: string;
  step: number;
  /** Optimizer iterations taken, and per epoch: where a stretched schedule stands. */
  iteration: number;
  iterationsPerEpoch: number;
  schedule: Schedule;
  /** Null for a new run. */
  resumed: Resumed | null;
  /** The caller's extra fields (e.g. the experiment's run id). */
  context: Record<string, unknown>;
}

export function announce(metrics: Metrics, runDir: string, r: RunStart, log: (line: string) => void): void {
  if (!r.resumed) {
    metrics.emit('start', r.step, { config: r.config, commit: r.commit, ...r.context });
    return;
  }
  const { changed, pair } = r.resumed;
  metrics.emit('resume', r.step, { from: relative(runDir, pair) || '.', changed, commit: r.commit, ...r.context });
  const note = stretchNote(r.config, changed, r.schedule, r.iterationsPerEpoch, r.iteration);
  if (note) log(note);
}
