// The run folder of `advfree train`, written by one process at a time:
//   DIR/lock                     held while a run uses the folder: {pid, host, started, job, boot, pidStart}
//                                (data/lock-file.ts); a second run is refused
//   DIR/checkpoints/step-N/      model.safetensors + train-state.safetensors, one complete pair per folder
//   DIR/latest                   'checkpoints/step-N': the newest complete pair, switched by one atomic rename
//   DIR/model.safetensors        a copy of the latest pair's model for eval/show, replaced atomically
//   DIR/metrics.jsonl            JSON lines (train/metrics.ts)
// A kill at any moment leaves `latest` naming a complete pair: the new pair is written into a temporary folder,
// renamed to its step's name and fsynced, and only then is the pointer switched; older pairs are pruned after.
// A write that fails (a full disk) removes its partial pair and leaves the previous one as it was.
import {
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { syncDirectory, writeFileAtomic } from '../nn/atomic.js';
import { loadModel } from '../nn/checkpoint.js';
import { wholeFileProblem } from '../nn/safetensors-file.js';
import type { Module } from '../nn/module.js';
import { asidePath } from '../data/aside.js';
import { diskFullText, isDiskFull } from '../data/disk-space.js';
import {
  createLock,
  describeHolder,
  holderState,
  lockText,
  readLock,
  releaseLock,
  takeOverIfGone,
  type LockHolder,
} from '../data/lock-file.js';

export const RUN_FILES = {
  model: 'model.safetensors',
  state: 'train-state.safetensors',
  metrics: 'metrics.jsonl',
  latest: 'latest',
  checkpoints: 'checkpoints',
  lock: 'lock',
  /** experiment: the run's evaluation, written once it is trained. */
  result: 'result.json',
} as const;

/** The files whose presence marks a folder as a run's (a new run refuses such a folder). */
const RUN_MARKS = [RUN_FILES.model, RUN_FILES.state, RUN_FILES.metrics, RUN_FILES.latest, RUN_FILES.checkpoints];

const STEP_DIR = /^step-(\d+)$/;
const TMP_DIR = /^\.step-\d+\.\d+\.tmp$/;

/** Why a folder was refused: 'busy' (another run holds it), 'exists' (a new run would overwrite), 'missing', 'usage'. */
export class RunFolderError extends Error {
  constructor(
    message: string,
    readonly kind: 'busy' | 'exists' | 'missing' | 'usage',
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
export const CRASH_POINTS = [
  'folder-created',
  'model-written',
  'state-written',
  'folder-renamed',
  'pointer-switched',
  'model-published',
  'pruned',
] as const;

/** The bytes of one checkpoint pair. */
export interface PairFiles {
  model: Uint8Array;
  state: Uint8Array;
}

const flagOf = (mode: 'new' | 'resume'): string => (mode === 'new' ? '--out' : '--resume');

/** Throws (a usage error) unless `dir` can be a run folder for `mode`: named, a folder, and existing to resume. */
function checkPath(dir: string, mode: 'new' | 'resume'): void {
  const flag = flagOf(mode);
  const want =
    mode === 'new'
      ? "give the run's folder (it is created if missing), e.g. --out runs/NAME"
      : 'give the folder of the run to continue (it holds latest and checkpoints/)';
  if (dir === '') throw new RunFolderError(`${flag} is empty: ${want}`, 'usage');
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && mode === 'new') return;
    throw new RunFolderError(
      `${flag} ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'a folder above it is a file' : (e as Error).message}; ${want}`,
      'usage',
    );
  }
  if (isDir) return;
  const inside =
    mode === 'resume' && (Object.values(RUN_FILES) as string[]).includes(basename(dir))
      ? `, e.g. --resume ${dirname(dir)}`
      : '';
  throw new RunFolderError(`${flag} ${dir} is a file, not a folder: ${want}${inside}`, 'usage');
}

/** Throws unless `dir`'s contents suit `mode`: a new run refuses a folder holding a run's files; a resume needs a pair. */
function checkContents(dir: string, mode: 'new' | 'resume'): void {
  if (mode === 'resume') {
    latestPair(dir);
    return;
  }
  const found = RUN_MARKS.filter((n) => existsSync(join(dir, n)));
  if (found.length === 0) return;
  const them = found.length > 1 ? 'them' : 'it';
  const fix = hasCheckpoint(dir)
    ? `Continue that run with --resume ${dir}, or pick another --out`
    : `There is no checkpoint to resume: move ${them} away, or pick another --out`;
  throw new RunFolderError(
    `${dir} already holds ${found.join(', ')}; a new run would overwrite ${them} (nothing was changed). ${fix}`,
    'exists',
  );
}

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
   * check to the caller, who may tidy the folder first. A stale lock is taken over (`note`).
   */
  static open(
    dir: string,
    mode: 'new' | 'resume' | 'lock',
    note: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  ): RunFolder {
    if (mode !== 'lock') checkPath(dir, mode);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new RunFolderError(
        `${dir}: cannot create the run folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        'usage',
      );
    }
    const f = new RunFolder(dir, takeLock(dir, note));
    try {
      if (mode !== 'lock') f.expect(mode, note);
    } catch (e) {
      f.release();
      throw e;
    }
    return f;
  }

  /** What open() would refuse, checked without taking the lock or creating anything (so nothing is left behind). */
  static check(dir: string, mode: 'new' | 'resume'): void {
    checkPath(dir, mode);
    if (!existsSync(dir)) return;
    const path = join(dir, RUN_FILES.lock);
    if (existsSync(path)) {
      const holder = readLock(path);
      const state = holder ? holderState(holder) : null;
      if (!state || !('gone' in state)) throw busyError(dir, path, holder, state?.verified ?? false);
    }
    checkContents(dir, mode);
  }

  /**
   * Checks the locked folder for `mode`: a new run refuses a folder holding anything a run writes; a resume needs a
   * complete pair, and pairs passed over on the way to it are moved aside (never deleted or pruned), with a note.
   */
  expect(mode: 'new' | 'resume', note: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
    checkContents(this.dir, mode);
    if (mode === 'resume') this.setAsideDamaged(note);
  }

  get metricsFile(): string {
    return join(this.dir, RUN_FILES.metrics);
  }

  private setAsideDamaged(note: (line: string) => void): void {
    const { pair, skipped } = findPair(this.dir);
    if (!skipped.length) return;
    const rel = (p: string) => relative(this.dir, p);
    const what = skipped.map((s) => {
      if (!existsSync(s.pair)) return `${rel(s.pair)} (${s.why})`;
      const aside = asidePath(s.pair, 'damaged');
      renameSync(s.pair, aside);
      return `${rel(s.pair)} (${s.why}; moved aside to ${rel(aside)})`;
    });
    note(
      `advfree: ${join(this.dir, RUN_FILES.latest)}: skipped ${what.join(', ')}; resuming from ${rel(pair)}, the newest complete pair`,
    );
  }

  /**
   * Commits the checkpoint of `step`: both files into a new folder, then the pointer, then DIR/model.safetensors,
   * then the pruning of all pairs but this one and the previous. Returns the pair's folder. A failed write (a
   * full disk) removes what it wrote and leaves the previous pair and pointer as they were.
   */
  async save(step: number, files: PairFiles): Promise<string> {
    const root = join(this.dir, RUN_FILES.checkpoints);
    mkdirSync(root, { recursive: true });
    const name = `step-${String(step).padStart(6, '0')}`;
    const previous = findPair(this.dir, false)?.pair ?? null;
    const final = join(root, name);
    if (final === previous) throw new Error(`${final}: the latest checkpoint is already at step ${step}`);
    const tmp = join(root, `.${name}.${process.pid}.tmp`);
    let renamed = false;
    try {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
      crashPoint('folder-created', step);
      await writeFileAtomic(join(tmp, RUN_FILES.model), files.model);
      crashPoint('model-written', step);
      await writeFileAtomic(join(tmp, RUN_FILES.state), files.state);
      crashPoint('state-written', step);
      // A folder of this step that `latest` never named is the leftover of a write interrupted before the switch.
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      renamed = true;
      await syncDirectory(root);
      crashPoint('folder-renamed', step);
      await writeFileAtomic(join(this.dir, RUN_FILES.latest), `${RUN_FILES.checkpoints}/${name}\n`);
    } catch (e) {
      // Until the pointer names it, the new pair is not a checkpoint: nothing of it stays.
      rmSync(tmp, { recursive: true, force: true });
      if (renamed) rmSync(final, { recursive: true, force: true });
      if (!isDiskFull(e)) throw e;
      const last = previous
        ? `the last complete checkpoint, ${previous}, is intact: free some space and continue with --resume ${this.dir}`
        : `no checkpoint was written before it: free some space, move ${this.metricsFile} away and start the run again`;
      throw new Error(
        `${diskFullText(e, root, `writing the checkpoint of step ${step} (model and training state)`, files.model.length + files.state.length)}. ` +
          `The partial pair was removed; ${last}`,
        { cause: e },
      );
    }
    crashPoint('pointer-switched', step);
    await this.publishModel(final, step, previous);
    crashPoint('model-published', step);
    this.prune(root, [final, previous]);
    crashPoint('pruned', step);
    return final;
  }

  /**
   * DIR/model.safetensors <- a copy of the pair's model (a reflink where the file system has them), renamed into
   * place: a copy, not a hard link, so that writing to DIR/model.safetensors never changes the checkpoint.
   */
  private async publishModel(pair: string, step: number, previous: string | null): Promise<void> {
    const target = join(this.dir, RUN_FILES.model);
    const tmp = join(this.dir, `.${RUN_FILES.model}.${process.pid}.tmp`);
    try {
      rmSync(tmp, { force: true });
      copyFileSync(join(pair, RUN_FILES.model), tmp, constants.COPYFILE_FICLONE);
      renameSync(tmp, target);
    } catch (e) {
      rmSync(tmp, { force: true });
      if (!isDiskFull(e)) throw e;
      const old = previous ? `still the model of ${relative(this.dir, previous)}` : 'not written';
      throw new Error(
        `${diskFullText(e, this.dir, `copying the model of step ${step} to ${target}`, statSync(join(pair, RUN_FILES.model)).size)}. ` +
          `The checkpoint of step ${step} is complete in ${pair} (${join(this.dir, RUN_FILES.latest)} names it); ${target} is ${old}: ` +
          `free some space and continue with --resume ${this.dir}`,
        { cause: e },
      );
    }
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
export const hasCheckpoint = (dir: string): boolean =>
  existsSync(join(dir, RUN_FILES.latest)) || existsSync(join(dir, RUN_FILES.state));

/** Why a pair folder is not a complete checkpoint, or null: both files there, each as long as its header says. */
function pairProblem(pair: string): string | null {
  if (!existsSync(pair)) return 'missing';
  for (const file of [RUN_FILES.model, RUN_FILES.state]) {
    const problem = wholeFileProblem(join(pair, file));
    if (problem) return `its ${file} ${problem}`;
  }
  return null;
}

/** The step folders of checkpoints/, newest first. */
function stepFolders(dir: string): string[] {
  const root = join(dir, RUN_FILES.checkpoints);
  const names = existsSync(root) ? readdirSync(root).filter((n) => STEP_DIR.test(n)) : [];
  return names.sort((a, b) => Number(STEP_DIR.exec(b)![1]) - Number(STEP_DIR.exec(a)![1])).map((n) => join(root, n));
}

interface FoundPair {
  pair: string;
  /** Pairs passed over on the way (the one `latest` names, and newer broken ones), with why. */
  skipped: { pair: string; why: string }[];
}

/**
 * The newest complete pair: the one DIR/latest names, else (when that one is missing or damaged) the newest
 * complete one in checkpoints/, or DIR itself for a run written before checkpoints/ existed (its two files side
 * by side). With `required`, throws where there is none; otherwise returns null.
 */
function findPair(dir: string, required: true): FoundPair;
function findPair(dir: string, required: false): FoundPair | null;
function findPair(dir: string): FoundPair;
function findPair(dir: string, required = true): FoundPair | null {
  const pointer = join(dir, RUN_FILES.latest);
  if (!existsSync(pointer)) {
    if (existsSync(join(dir, RUN_FILES.state))) return { pair: dir, skipped: [] };
    if (!required) return null;
    const fix = existsSync(join(dir, RUN_FILES.metrics))
      ? `the run stopped before its first checkpoint: move ${join(dir, RUN_FILES.metrics)} away to start it again with --out ${dir}`
      : `start a new run with --out ${dir}`;
    throw new RunFolderError(
      `--resume ${dir}: no checkpoint there (no ${RUN_FILES.latest} pointer); ${fix}`,
      'missing',
    );
  }
  const target = readFileSync(pointer, 'utf8').trim();
  const m = /^checkpoints\/(step-\d+)$/.exec(target);
  const named = m ? join(dir, RUN_FILES.checkpoints, m[1]) : null;
  const skipped: FoundPair['skipped'] = [];
  const namedProblem = named
    ? pairProblem(named)
    : `names ${JSON.stringify(target.slice(0, 80))}, not 'checkpoints/step-N'`;
  if (!namedProblem) return { pair: named!, skipped };
  if (named) skipped.push({ pair: named, why: namedProblem });
  for (const pair of stepFolders(dir)) {
    if (pair === named) continue;
    const why = pairProblem(pair);
    if (!why) return { pair, skipped };
    skipped.push({ pair, why });
  }
  if (!required) return null;
  const what = skipped.map((s) => `${relative(dir, s.pair)} (${s.why})`).join(', ');
  throw new RunFolderError(
    `--resume ${dir}: no complete checkpoint there: ${pointer} ${named ? `names ${target}` : namedProblem}${what ? `; passed over ${what}` : ''}; start a new run with another --out`,
    'missing',
  );
}

/**
 * The folder of a run's newest complete pair (findPair). Reading needs no lock: a pair is never changed once named.
 */
export const latestPair = (dir: string): string => findPair(dir).pair;

/** Loads a pair's model into `model`, checking that it is from the step of the pair's training state. */
export async function loadPairModel(pair: string, model: Module, step: number): Promise<void> {
  const path = join(pair, RUN_FILES.model);
  const meta = await loadModel(model, path);
  if (Number(meta.step) !== step) {
    throw new Error(
      `${path} is from step ${meta.step} but ${RUN_FILES.state} beside it from step ${step}; the folder mixes two checkpoints`,
    );
  }
}

/** Whether `dir` is a run's folder: it holds what only a run writes (a model file alone may be anyone's). */
const isRunFolder = (dir: string): boolean =>
  [RUN_FILES.state, RUN_FILES.metrics, RUN_FILES.latest, RUN_FILES.checkpoints, RUN_FILES.lock].some((n) =>
    existsSync(join(dir, n)),
  );

/** `path` with symbolic links resolved as far as it exists, so that a link into a run folder is seen as inside it. */
function realPath(path: string): string {
  const abs = resolve(path);
  for (let head = abs, tail = ''; ; tail = join(basename(head), tail), head = dirname(head)) {
    try {
      return join(realpathSync(head), tail);
    } catch {
      if (dirname(head) === head) return abs;
    }
  }
}

/**
 * The run folder whose own file `path` is (its model, training state, metrics, pointer, lock, result, or
 * anything under its checkpoints/), or null. Such files are the run's: no other command may write them.
 */
export function owningRun(path: string): string | null {
  const real = realPath(path);
  const owned = new Set<string>(Object.values(RUN_FILES));
  let run: string | null = null;
  // The outermost such folder: a pair's folder (model and state) lies inside its run's.
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    if (owned.has(relative(dir, real).split(sep)[0]) && isRunFolder(dir)) run = dir;
    if (dirname(dir) === dir) return run;
  }
}

/** Creates DIR/lock (of two runs, one wins); takes over a stale lock (lock-file.ts holderState) with a note. */
function takeLock(dir: string, note: (line: string) => void): string {
  const path = join(dir, RUN_FILES.lock);
  const text = lockText();
  while (!createLock(path, text)) {
    if (takeOverIfGone(path, note, dir)) continue;
    const holder = readLock(path);
    const state = holder ? holderState(holder) : null;
    throw busyError(dir, path, holder, !!state && 'verified' in state && state.verified);
  }
  return text;
}

/** The refusal of a folder whose lock `holder` (null: it names no process) runs or cannot be checked. */
function busyError(dir: string, path: string, holder: LockHolder | null, verified: boolean): RunFolderError {
  if (!holder) {
    return new RunFolderError(
      `${dir} is locked by ${path}, which does not name a process; if no run uses this folder, delete ${path}`,
      'busy',
    );
  }
  const check =
    holder.host !== hostname()
      ? `this is ${hostname()}, so whether it still runs cannot be checked here${holder.job ? ` (squeue -j ${holder.job} says whether its job does)` : ''}; if it is gone, delete ${path}`
      : verified
        ? `wait for it to finish or stop it (kill ${holder.pid})`
        : `process ${holder.pid} exists, but whether it is that run cannot be checked here; if no run uses this folder, delete ${path}`;
  return new RunFolderError(`${dir} is in use by another run (${describeHolder(holder)}): ${check}`, 'busy');
}
