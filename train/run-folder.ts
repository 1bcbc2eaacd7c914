// The run folder of `advfree train`, written by one process at a time:
//   DIR/lock                     held while a run uses the folder: {pid, host, started, job}; a second run is refused
//   DIR/checkpoints/step-N/      model.safetensors + train-state.safetensors, one complete pair per folder
//   DIR/latest                   'checkpoints/step-N': the newest complete pair, switched by one atomic rename
//   DIR/model.safetensors        the latest model for eval/show (a hard link, or a copy), replaced atomically
//   DIR/metrics.jsonl            JSON lines (train/metrics.ts)
// A kill at any moment leaves `latest` naming a complete pair: the new pair is written into a temporary folder,
// renamed to its step's name and fsynced, and only then is the pointer switched; older pairs are pruned after.
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createLock, describeHolder, lockText, readLock, releaseLock, takeOverIfGone, type LockHolder } from '../data/lock-file.js';
import { syncDirectory, writeFileAtomic } from '../nn/atomic.js';
import { loadModel } from '../nn/checkpoint.js';
import type { Module } from '../nn/module.js';

export const RUN_FILES = {
  model: 'model.safetensors',
  state: 'train-state.safetensors',
  metrics: 'metrics.jsonl',
  latest: 'latest',
  checkpoints: 'checkpoints',
  lock: 'lock',
} as const;

const STEP_DIR = /^step-(\d+)$/;
const TMP_DIR = /^\.step-\d+\.\d+\.tmp$/;

/** Why a folder was refused: 'busy' (another run holds it), 'exists' (a new run would overwrite), 'missing'. */
export class RunFolderError extends Error {
  constructor(
    message: string,
    readonly kind: 'busy' | 'exists' | 'missing',
  ) {
    super(message);
  }
}

/**
 * The test hook of the crash test: ADVFREE_TEST_CRASH_AT=POINT@STEP kills this process with SIGKILL (no exit
 * handlers, like the OOM killer) at that point of the checkpoint write of that step.
 */
function crashPoint(point: string, step: number): void {
  if (process.env.ADVFREE_TEST_CRASH_AT === `${point}@${step}`) process.kill(process.pid, 'SIGKILL');
}

/** The points of the checkpoint write, in order, at which the crash test kills the writer. */
export const CRASH_POINTS = ['folder-created', 'model-written', 'state-written', 'folder-renamed', 'pointer-switched', 'model-published', 'pruned'] as const;

export class RunFolder {
  private lockText: string | null;
  private readonly onExit = () => this.release();
  private readonly onSignal = (signal: NodeJS.Signals) => {
    // Another listener owns the signal (a Slurm task checkpoints before it exits): the lock goes at exit.
    if (process.listenerCount(signal) > 0) return;
    this.release();
    process.kill(process.pid, signal);
  };

  private constructor(
    readonly dir: string,
    lockText: string,
  ) {
    this.lockText = lockText;
    process.once('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  /**
   * Takes the folder's lock (creating the folder), then checks it for `mode` (see `expect`); 'lock' leaves the
   * check to the caller, who may tidy the folder first. A lock whose holder is gone is taken over (`note`).
   */
  static open(dir: string, mode: 'new' | 'resume' | 'lock', note: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): RunFolder {
    mkdirSync(dir, { recursive: true });
    const f = new RunFolder(dir, takeLock(dir, note));
    try {
      if (mode !== 'lock') f.expect(mode);
    } catch (e) {
      f.release();
      throw e;
    }
    return f;
  }

  /** A new run refuses a folder holding anything a run writes; a resume needs a complete checkpoint pair. */
  expect(mode: 'new' | 'resume'): void {
    const { dir } = this;
    if (mode === 'resume') {
      latestPair(dir);
      return;
    }
    const found = [RUN_FILES.model, RUN_FILES.state, RUN_FILES.metrics, RUN_FILES.latest, RUN_FILES.checkpoints].filter((n) => existsSync(join(dir, n)));
    if (found.length > 0) {
      const them = found.length > 1 ? 'them' : 'it';
      const fix = hasCheckpoint(dir) ? `Continue that run with --resume ${dir}, or pick another --out` : `There is no checkpoint to resume: move ${them} away, or pick another --out`;
      throw new RunFolderError(`${dir} already holds ${found.join(', ')}; a new run would overwrite ${them} (nothing was changed). ${fix}`, 'exists');
    }
  }

  get metricsFile(): string {
    return join(this.dir, RUN_FILES.metrics);
  }

  /**
   * Commits the checkpoint of `step`: both files into a new folder, then the pointer, then DIR/model.safetensors,
   * then the pruning of all pairs but this one and the previous. Returns the pair's folder.
   */
  async save(step: number, writeModel: (path: string) => Promise<void>, writeState: (path: string) => Promise<void>): Promise<string> {
    const root = join(this.dir, RUN_FILES.checkpoints);
    mkdirSync(root, { recursive: true });
    const name = `step-${String(step).padStart(6, '0')}`;
    const previous = existsSync(join(this.dir, RUN_FILES.latest)) ? latestPair(this.dir) : null;
    const final = join(root, name);
    if (final === previous) throw new Error(`${final}: the latest checkpoint is already at step ${step}`);
    const tmp = join(root, `.${name}.${process.pid}.tmp`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    crashPoint('folder-created', step);
    await writeModel(join(tmp, RUN_FILES.model));
    crashPoint('model-written', step);
    await writeState(join(tmp, RUN_FILES.state));
    crashPoint('state-written', step);
    // A folder of this step that `latest` never named is the leftover of a write interrupted before the switch.
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    await syncDirectory(root);
    crashPoint('folder-renamed', step);
    await writeFileAtomic(join(this.dir, RUN_FILES.latest), `${RUN_FILES.checkpoints}/${name}\n`);
    crashPoint('pointer-switched', step);
    await this.publishModel(final);
    crashPoint('model-published', step);
    this.prune(root, [final, previous]);
    crashPoint('pruned', step);
    return final;
  }

  /** DIR/model.safetensors <- the pair's model: a hard link (a copy where links fail) renamed into place. */
  private async publishModel(pair: string): Promise<void> {
    const tmp = join(this.dir, `.${RUN_FILES.model}.${process.pid}.tmp`);
    rmSync(tmp, { force: true });
    try {
      linkSync(join(pair, RUN_FILES.model), tmp);
    } catch {
      copyFileSync(join(pair, RUN_FILES.model), tmp);
    }
    renameSync(tmp, join(this.dir, RUN_FILES.model));
    await syncDirectory(this.dir);
  }

  /** Removes pairs other than `keep` and temporary folders of interrupted writes; nothing else in checkpoints/. */
  private prune(root: string, keep: (string | null)[]): void {
    const pairs = readdirSync(root).filter((n) => STEP_DIR.test(n) && !keep.includes(join(root, n)));
    const stale = readdirSync(root).filter((n) => TMP_DIR.test(n));
    for (const n of [...pairs, ...stale]) rmSync(join(root, n), { recursive: true, force: true });
  }

  /** Releases the lock (once; also on exit, SIGINT and SIGTERM), unless another process has taken it since. */
  release(): void {
    if (this.lockText === null) return;
    releaseLock(join(this.dir, RUN_FILES.lock), this.lockText);
    this.lockText = null;
    process.removeListener('exit', this.onExit);
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
  }
}

/** Whether `dir` holds a checkpoint to resume from (no lock needed). */
export const hasCheckpoint = (dir: string): boolean => existsSync(join(dir, RUN_FILES.latest)) || existsSync(join(dir, RUN_FILES.state));

/**
 * The folder of a run's latest complete pair: the one DIR/latest names, or DIR itself for a run written before
 * checkpoints/ existed (its two files side by side). Reading needs no lock: a pair is never changed once named.
 */
export function latestPair(dir: string): string {
  const pointer = join(dir, RUN_FILES.latest);
  let pair: string;
  if (existsSync(pointer)) {
    const target = readFileSync(pointer, 'utf8').trim();
    const m = /^checkpoints\/(step-\d+)$/.exec(target);
    if (!m) throw new RunFolderError(`${pointer}: expected 'checkpoints/step-N', got ${JSON.stringify(target.slice(0, 80))}`, 'missing');
    pair = join(dir, RUN_FILES.checkpoints, m[1]);
  } else if (existsSync(join(dir, RUN_FILES.state))) {
    pair = dir;
  } else {
    const fix = existsSync(join(dir, RUN_FILES.metrics))
      ? `the run stopped before its first checkpoint: move ${join(dir, RUN_FILES.metrics)} away to start it again with --out ${dir}`
      : `start a new run with --out ${dir}`;
    throw new RunFolderError(`--resume ${dir}: no checkpoint there (no ${RUN_FILES.latest} pointer); ${fix}`, 'missing');
  }
  for (const file of [RUN_FILES.model, RUN_FILES.state]) {
    if (!existsSync(join(pair, file))) throw new RunFolderError(`--resume ${dir}: the checkpoint ${pair} lacks ${file}`, 'missing');
  }
  return pair;
}

/** Loads a pair's model into `model`, checking that it is from the step of the pair's training state. */
export async function loadPairModel(pair: string, model: Module, step: number): Promise<void> {
  const path = join(pair, RUN_FILES.model);
  const meta = await loadModel(model, path);
  if (Number(meta.step) !== step) {
    throw new Error(`${path} is from step ${meta.step} but ${RUN_FILES.state} beside it from step ${step}; the folder mixes two checkpoints`);
  }
}

/** Creates DIR/lock (of two runs, one wins); takes over a lock whose holder is gone (lock-file.ts holderGone). */
function takeLock(dir: string, note: (line: string) => void): string {
  const path = join(dir, RUN_FILES.lock);
  const text = lockText();
  while (!createLock(path, text)) {
    if (!takeOverIfGone(path, note, dir)) throw busyError(dir, path, readLock(path));
  }
  return text;
}

function busyError(dir: string, path: string, holder: LockHolder | null): RunFolderError {
  if (!holder) {
    return new RunFolderError(`${dir} is locked by ${path}, which does not name a process; if no run uses this folder, delete ${path}`, 'busy');
  }
  const check = holder.host === hostname() ? `wait for it to finish or stop it (kill ${holder.pid})` : `this is ${hostname()}, so whether it still runs cannot be checked here${holder.job ? ` (squeue -j ${holder.job} says whether its job does)` : ''}; if it is gone, delete ${path}`;
  return new RunFolderError(`${dir} is in use by another run (${describeHolder(holder)}): ${check}`, 'busy');
}
