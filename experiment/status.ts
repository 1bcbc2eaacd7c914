// Where each run of an experiment folder stands, from its run folder alone (so from any machine sharing it):
// done (result.json), running (the lock's holder), stopped (a checkpoint or metrics, nobody holding the lock) or
// not started.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeHolder, holderGone, readLock } from '../data/lock-file.js';
import { RUN_FILES } from '../train/run-folder.js';
import type { RunSpec } from './plan.js';
import { finished } from './runner.js';

export type RunState = 'done' | 'running' | 'stopped' | 'not started';

export interface RunStatus {
  id: string;
  state: RunState;
  /** The figures behind the state: accuracies, the lock's holder, how far training got. */
  detail: string;
}

/** The step of the run's latest checkpoint, or null. */
function checkpointStep(dir: string): number | null {
  const pointer = join(dir, RUN_FILES.latest);
  if (!existsSync(pointer)) return null;
  const m = /step-(\d+)/.exec(readFileSync(pointer, 'utf8'));
  return m ? Number(m[1]) : null;
}

/** Epochs ended, by the metrics' epoch records (a resumed epoch counts once). */
function epochsEnded(dir: string): number {
  const file = join(dir, RUN_FILES.metrics);
  if (!existsSync(file)) return 0;
  const ended = new Set<number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes('"epoch"')) continue;
    try {
      const m = JSON.parse(line);
      if (m.type === 'epoch') ended.add(m.epoch);
    } catch {
      // A line cut by a kill: the lines before it count.
    }
  }
  return ended.size;
}

export function runStatus(out: string, r: RunSpec): RunStatus {
  const dir = join(out, 'runs', r.id);
  const done = finished(out, r);
  if (done) {
    const attacks = done.attacks.map((a) => `${a.name} ${(a.accuracy * 100).toFixed(1)}%`).join(', ');
    return {
      id: r.id,
      state: 'done',
      detail: `clean ${(done.clean_accuracy * 100).toFixed(1)}%${attacks ? `, ${attacks}` : ''}`,
    };
  }
  const step = checkpointStep(dir);
  const progress = `${epochsEnded(dir)} of ${r.epochs} epochs${step !== null ? `, checkpoint at step ${step}` : ''}`;
  const holder = readLock(join(dir, RUN_FILES.lock));
  if (holder && !holderGone(holder))
    return { id: r.id, state: 'running', detail: `${describeHolder(holder)}; ${progress}` };
  if (step !== null || existsSync(join(dir, RUN_FILES.metrics))) {
    return {
      id: r.id,
      state: 'stopped',
      detail: `${progress}${holder ? ` (its lock names ${describeHolder(holder)}, which no longer runs)` : ''}`,
    };
  }
  return { id: r.id, state: 'not started', detail: '' };
}

/** The status table: one line per run, then the count of each state. */
export function statusText(all: readonly RunStatus[]): string {
  const width = Math.max(...all.map((s) => s.id.length));
  const lines = all.map((s) => `${s.id.padEnd(width)}  ${s.state.padEnd(11)}  ${s.detail}`.trimEnd());
  const counts = (['done', 'running', 'stopped', 'not started'] as const).map(
    (st) => `${all.filter((s) => s.state === st).length} ${st}`,
  );
  return [...lines, '', `${all.length} runs: ${counts.join(', ')}`].join('\n');
}
