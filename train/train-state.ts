// What model.safetensors leaves out but `--resume DIR` needs to continue a run exactly: the optimizer's state, extra
// tensors such as free training's persistent perturbation `delta`, host arrays such as ATTA's per-example store,
// and the run's position, random state and config. A safetensors file too: the tensors as F32, host arrays as
// I8/U8/I32, the rest as JSON in the header's metadata.
import type { Tensor } from '../engine/index.js';
import { noPasses, type HostStateArray, type Method, type PassCounts } from '../adversarial/method.js';
import type { Optimizer } from '../nn/optim.js';
import type { EpochTotals } from './epoch.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { checkTensorSet, readSafetensorsFile, type TensorSpec } from '../nn/safetensors-file.js';
import type { LoaderPosition } from '../data/loader.js';
import { encodeSafetensors, type SafetensorsDtype, type SafetensorsEntry } from '../nn/safetensors.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface TrainState {
  /** The run's id (train/metrics.ts), kept across resumes; absent in states written before run ids. */
  run?: string;
  /** SGD steps taken (each of free training's replays counts). */
  step: number;
  /** The epoch, as the model checkpoint's metadata records it. */
  epoch: number;
  /** The loader's next batch. */
  position: LoaderPosition;
  /** Seeds and stream counters of every random source, e.g. {seed: 0, attackStream: 5120}. */
  rng: { [key: string]: Json };
  /** The full run configuration, so that a resumed run needs no other flags. */
  config: { [key: string]: Json };
  /** Running totals, e.g. forward/backward passes, images seen, seconds trained, Adam's step count. */
  counters: { [key: string]: number };
}

export interface LoadedTrainState {
  file: string;
  tensors: Record<string, Float32Array>;
  shapes: Record<string, number[]>;
  /** The host arrays (every entry that is not F32). */
  host: Record<string, { dtype: SafetensorsDtype; data: HostStateArray }>;
  state: TrainState;
}

/** The trainer's running totals, kept in the training state's counters. */
export interface RunTotals {
  /** Optimizer iterations taken: the learning-rate schedule's position. */
  iteration: number;
  epoch: EpochTotals;
  /** The run's passes so far. */
  passes: PassCounts;
  /** The optimizer's host counters (Adam's step count). */
  optimizer: Record<string, number>;
}

const prefixed = (values: object, prefix: string): Record<string, number> =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));

const unprefixed = (c: Record<string, number>, prefix: string): Record<string, number> =>
  Object.fromEntries(
    Object.entries(c)
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length), v]),
  );

function unpackPasses(c: Record<string, number>, prefix: string): PassCounts {
  const p = noPasses();
  for (const k of Object.keys(p) as (keyof PassCounts)[]) p[k] = c[prefix + k] ?? 0;
  return p;
}

/** The totals as the state's counters: the epoch's sums by name, passes and optimizer counters under a prefix. */
export function packTotals(t: RunTotals): TrainState['counters'] {
  const e = t.epoch;
  return {
    iteration: t.iteration,
    lossSum: e.lossSum,
    correct: e.correct,
    seen: e.seen,
    seconds: e.seconds,
    ...prefixed(t.passes, 'run.'),
    ...prefixed(e.passes, 'epoch.'),
    ...prefixed(t.optimizer, 'optimizer.'),
  };
}

/** The totals packTotals wrote (passes missing from older states count 0). */
export function unpackTotals(c: TrainState['counters']): RunTotals {
  return {
    iteration: c.iteration,
    epoch: {
      lossSum: c.lossSum,
      correct: c.correct,
      seen: c.seen,
      seconds: c.seconds,
      passes: unpackPasses(c, 'epoch.'),
    },
    passes: unpackPasses(c, 'run.'),
    optimizer: unprefixed(c, 'optimizer.'),
  };
}

/** The live tensors of the training state besides the model: the optimizer's and the method's carried tensors. */
export function stateTensors(opt: Optimizer, method: Method): Record<string, Tensor> {
  const out = { ...opt.state };
  for (const [k, v] of Object.entries(method.state?.() ?? {})) out[`method.${k}`] = v;
  return out;
}

/** The method's host arrays of the training state, after its pending writes. */
export async function hostArrays(method: Method): Promise<Record<string, HostStateArray>> {
  const host = (await method.hostState?.()) ?? {};
  return Object.fromEntries(Object.entries(host).map(([k, v]) => [`method.${k}`, v]));
}

/** The safetensors dtype of a host array. */
const hostDtype = (a: HostStateArray): SafetensorsDtype =>
  a instanceof Int8Array ? 'I8' : a instanceof Uint8Array ? 'U8' : 'I32';

/** Marks a training-state file, so that a model checkpoint (or a future layout) is not taken for one. */
const FORMAT = 'advfree-train-state-1';

/** Rejects what JSON would silently change: NaN/Infinity (to null), undefined (dropped), class instances. */
function checkJson(file: string, v: unknown, at: string): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${file}: training state field '${at}' is ${v}, which JSON cannot hold`);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => checkJson(file, x, `${at}[${i}]`));
  } else if (typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v))) {
    for (const [k, x] of Object.entries(v)) checkJson(file, x, `${at}.${k}`);
  } else {
    const what = v === undefined ? 'undefined' : `a ${(v as object)?.constructor?.name ?? typeof v}`;
    throw new Error(`${file}: training state field '${at}' is ${what}, not JSON`);
  }
}

export interface TrainStateContents {
  tensors: Record<string, Tensor>;
  host?: Record<string, HostStateArray>;
  state: TrainState;
}

/** The tensors (f32 only, read back from the GPU) and host arrays of a training state, as safetensors entries. */
export async function trainStateEntries(
  file: string,
  contents: Omit<TrainStateContents, 'state'>,
): Promise<Record<string, SafetensorsEntry>> {
  const { tensors, host = {} } = contents;
  const named = Object.entries(tensors);
  for (const [name, t] of named) {
    if (t.dtype !== 'f32')
      throw new Error(`${file}: tensor '${name}' (${t.describe()}) is ${t.dtype}; a training state holds f32 tensors`);
  }
  const data = await Promise.all(named.map(([, t]) => t.data()));
  return Object.fromEntries([
    ...named.map(([name, t], i): [string, SafetensorsEntry] => [
      name,
      { dtype: 'F32', shape: [...t.shape], data: data[i] },
    ]),
    ...Object.entries(host).map(([name, a]): [string, SafetensorsEntry] => {
      if (Object.hasOwn(tensors, name))
        throw new Error(`${file}: '${name}' is both a tensor and a host array of the training state`);
      return [name, { dtype: hostDtype(a), shape: [a.length], data: a }];
    }),
  ]);
}

/** The bytes of a training-state file: the entries of trainStateEntries and the state (checked to survive JSON). */
export function encodeTrainState(
  file: string,
  entries: Record<string, SafetensorsEntry>,
  state: TrainState,
): Uint8Array {
  checkJson(file, state, 'state');
  return encodeSafetensors(entries, { format: FORMAT, state: JSON.stringify(state) });
}

/** Writes the tensors (f32 only), the host arrays and the state to `path`, atomically. */
export async function saveTrainState(path: string, contents: TrainStateContents): Promise<void> {
  await writeFileAtomic(path, encodeTrainState(path, await trainStateEntries(path, contents), contents.state));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** Parses the state JSON and checks the fields a resumed run relies on. */
function parseState(file: string, text: string | undefined): TrainState {
  let s: unknown;
  try {
    s = JSON.parse(text ?? '');
  } catch (e) {
    throw new Error(`${file}: training state metadata 'state' is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(s)) throw new Error(`${file}: the training state must be a JSON object, got ${text}`);
  const position = isObject(s.position) ? s.position : {};
  const fields: [string, unknown, boolean, string][] = [
    ['run', s.run, s.run === undefined || (typeof s.run === 'string' && s.run !== ''), 'a non-empty string'],
    ['step', s.step, isCount(s.step), 'a non-negative integer'],
    ['epoch', s.epoch, isCount(s.epoch), 'a non-negative integer'],
    ['position.epoch', position.epoch, isCount(position.epoch), 'a non-negative integer'],
    ['position.batch', position.batch, isCount(position.batch), 'a non-negative integer'],
    ['rng', s.rng, isObject(s.rng), 'an object'],
    ['config', s.config, isObject(s.config), 'an object'],
    [
      'counters',
      s.counters,
      isObject(s.counters) && Object.values(s.counters).every((c) => typeof c === 'number'),
      'an object of numbers',
    ],
  ];
  for (const [name, value, ok, want] of fields) {
    if (!ok) throw new Error(`${file}: training state field '${name}' must be ${want}, got ${JSON.stringify(value)}`);
  }
  return s as unknown as TrainState;
}

/** Reads a training state written by saveTrainState. */
export async function loadTrainState(path: string): Promise<LoadedTrainState> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  if (metadata.format !== FORMAT) {
    throw new Error(
      `${path}: not a training state (metadata format ${JSON.stringify(metadata.format)}, expected '${FORMAT}')`,
    );
  }
  const state = parseState(path, metadata.state);
  const all = Object.entries(tensors);
  for (const [name, t] of all) {
    if (t.dtype === 'I64')
      throw new Error(
        `${path}: tensor '${name}' is ${t.dtype}; a training state holds F32 tensors and I8/U8/I32 host arrays`,
      );
  }
  const named = all.filter(([, t]) => t.dtype === 'F32');
  // fromEntries, not assignment, so that any name (even '__proto__') stays a plain key.
  return {
    file: path,
    tensors: Object.fromEntries(named.map(([name, t]) => [name, t.data as Float32Array])),
    shapes: Object.fromEntries(named.map(([name, t]) => [name, t.shape])),
    host: Object.fromEntries(
      all
        .filter(([, t]) => t.dtype !== 'F32')
        .map(([name, t]) => [name, { dtype: t.dtype, data: t.data as HostStateArray }]),
    ),
    state,
  };
}

/**
 * Writes the loaded tensors into this run's live ones (e.g. {...opt.state, delta}), strictly: the same
 * names and shapes, nothing missing or extra; otherwise nothing is written.
 */
export function restoreTensors(loaded: LoadedTrainState, targets: Record<string, Tensor>): void {
  const f32 = (shape: readonly number[]): TensorSpec => ({ dtype: 'F32', shape });
  const found = Object.fromEntries(Object.entries(loaded.shapes).map(([name, shape]) => [name, f32(shape)]));
  checkTensorSet(
    loaded.file,
    'this run',
    found,
    Object.entries(targets).map(([name, t]) => [name, f32(t.shape)]),
  );
  for (const [name, t] of Object.entries(targets)) t.write(loaded.tensors[name]);
}

/** Writes the loaded host arrays into this run's live ones (e.g. ATTA's store), strictly, like restoreTensors. */
export function restoreHostArrays(loaded: LoadedTrainState, targets: Record<string, HostStateArray>): void {
  const found = Object.fromEntries(
    Object.entries(loaded.host).map(([name, h]): [string, TensorSpec] => [
      name,
      { dtype: h.dtype, shape: [h.data.length] },
    ]),
  );
  checkTensorSet(
    loaded.file,
    'this run',
    found,
    Object.entries(targets).map(([name, a]) => [name, { dtype: hostDtype(a), shape: [a.length] }]),
  );
  for (const [name, a] of Object.entries(targets)) a.set(loaded.host[name].data);
}
