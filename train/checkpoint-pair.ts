// The trainer's side of a checkpoint pair (DIR/checkpoints/step-N): what it packs into one (the weights; the
// optimizer's and the method's state, the loader's position and the run's counters) and how a resumed trainer is put
// back exactly where the pair was taken.
import type { Method } from '../adversarial/method.js';
import { encodeModel, modelEntries } from '../nn/checkpoint.js';
import type { Classifier, ResolvedModel } from '../nn/model.js';
import type { Optimizer } from '../nn/optim.js';
import type { SafetensorsEntry } from '../nn/safetensors.js';
import type { Loader } from '../data/loader.js';
import { checkFinite } from './divergence.js';
import type { EpochTotals } from './epoch.js';
import type { PassMeter } from './passes.js';
import { modelMetadata, type Datasets, type RunConfig } from './run-config.js';
import { loadPairModel, RUN_FILES, type RunFolder } from './run-folder.js';
import {
  encodeTrainState,
  hostArrays,
  packTotals,
  restoreHostArrays,
  restoreTensors,
  stateTensors,
  trainStateEntries,
  unpackTotals,
  type LoadedTrainState,
  type TrainState,
} from './train-state.js';

/** The parts of a trainer whose state a pair holds. */
export interface TrainerParts {
  model: Classifier;
  opt: Optimizer;
  method: Method;
  meter: PassMeter;
  loader: Loader;
}

/** Where a run is: the counters a pair restores beside the parts' state. */
export interface RunCounters {
  /** SGD steps taken (each of free training's replays counts). */
  step: number;
  /** Optimizer iterations taken: the learning-rate schedule's position. */
  iteration: number;
  epoch: EpochTotals;
}

/** Who wrote a pair: recorded in the model's metadata and the training state. */
export interface PairAuthor {
  config: RunConfig;
  data: Datasets;
  architecture: ResolvedModel;
  runId: string;
  commit: string;
}

/** Every tensor of the parts now (the model's and the training state's), as a checkpoint would hold them. */
export async function pairEntries(parts: TrainerParts): Promise<Record<string, SafetensorsEntry>> {
  return {
    ...(await modelEntries(parts.model)),
    ...(await trainStateEntries(RUN_FILES.state, { tensors: stateTensors(parts.opt, parts.method) })),
  };
}

/**
 * Commits the pair of the current step to the run folder. A pair holding NaN or Inf is never written (nor a
 * batch-norm running variance below 0): checkFinite stops the run instead.
 */
export async function savePair(folder: RunFolder, parts: TrainerParts, at: RunCounters, by: PairAuthor): Promise<void> {
  const { config } = by;
  const position = parts.loader.position();
  const counters = packTotals({
    iteration: at.iteration,
    epoch: at.epoch,
    passes: parts.meter.passes,
    optimizer: parts.opt.counters(),
  });
  const state = {
    run: by.runId,
    step: at.step,
    epoch: position.epoch,
    position,
    rng: { seed: config.seed },
    config: config as unknown as TrainState['config'],
    counters,
  };
  const model = await modelEntries(parts.model);
  const tensors = await trainStateEntries(RUN_FILES.state, {
    tensors: stateTensors(parts.opt, parts.method),
    host: await hostArrays(parts.method),
  });
  checkFinite({ ...model, ...tensors }, at.step);
  const metadata = modelMetadata(config, by.data, by.architecture, {
    epoch: position.epoch,
    step: at.step,
    run: by.runId,
    commit: by.commit,
  });
  await folder.save(at.step, {
    model: encodeModel(model, metadata),
    state: encodeTrainState(RUN_FILES.state, tensors, state),
  });
}

/** Puts the parts back where the pair in folder `pair` (its training state loaded as `saved`) was taken. */
export async function restorePair(pair: string, saved: LoadedTrainState, parts: TrainerParts): Promise<RunCounters> {
  const st = saved.state;
  await loadPairModel(pair, parts.model, st.step);
  restoreTensors(saved, stateTensors(parts.opt, parts.method));
  restoreHostArrays(saved, await hostArrays(parts.method));
  const totals = unpackTotals(st.counters);
  try {
    parts.opt.setCounters(totals.optimizer);
  } catch (e) {
    throw new Error(`${saved.file}: ${(e as Error).message}`);
  }
  Object.assign(parts.meter.passes, totals.passes);
  parts.loader.seek(st.position);
  return { step: st.step, iteration: totals.iteration, epoch: totals.epoch };
}
