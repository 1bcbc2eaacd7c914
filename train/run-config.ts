// What defines a run (RunConfig), the data it trains on and how it is run (TrainOptions); the configuration saved in a training state as a
// resume reads it (older states at the meaning their fields had), the settings a resume may change, and what each
// model checkpoint records of the run.
import type { MethodConfig } from '../adversarial/method.js';
import { splitLegacyEps } from '../adversarial/registry.js';
import type { ThreatSpec } from '../adversarial/threat.js';
import type { FeatureBox, SplitData } from '../data/dataset.js';
import { findDataset } from '../data/registry.js';
import type { ModelMetadata } from '../nn/checkpoint.js';
import type { OptimizerName } from '../nn/optim.js';
import type { ResolvedModel } from '../nn/model.js';
import { lrAt, type Schedule } from '../nn/schedule.js';
import type { RunFolder } from './run-folder.js';
import type { TrainState } from './train-state.js';

/** Everything that defines a run; saved in the training state so that a resume needs only the folder. */
export interface RunConfig {
  data: string;
  model: string;
  classes: number;
  /** Passes over the training set (for free-m: natural-equivalent epochs / m). */
  epochs: number;
  batch: number;
  lr: number;
  schedule: string;
  /** 'sgd', or 'adam' (torch.optim.Adam: betas (0.9, 0.999), eps 1e-8); weightDecay and decay apply to both. */
  optimizer: OptimizerName;
  /** SGD only. */
  momentum: number;
  /** SGD only. */
  nesterov: boolean;
  weightDecay: number;
  decay: 'all' | 'weights';
  seed: number;
  augment: boolean;
  trainLimit: number | null;
  testLimit: number | null;
  /** Hold out this fraction of the training split as the evaluation split (model selection); absent or null: the test split. */
  validation?: number | null;
  /** The method's name and all its options, resolved (defaults filled in) and checked by its descriptor. */
  method: MethodConfig;
  /** The threat model every perturbation of the method stays in (runs recorded before it hold eps in `method`). */
  threat: ThreatSpec;
  /** Inputs are images in [0,1] fed as they are; recorded so a loader of the checkpoint knows. */
  normalization: 'none';
  checkpointMinutes: number;
  logEvery: number;
}

export interface Datasets {
  train: SplitData;
  test: SplitData;
  /** The dataset's record for checkpoints (tabular preprocessing, split hash): LoadedDataset.metadata. */
  metadata?: Record<string, string>;
  /** The box and mask of the threat model per input element: LoadedDataset.box (default: [0, 1], all mutable). */
  box?: FeatureBox;
}

export interface TrainOptions {
  /** The run folder: a path (locked for this run, released at its end) or a RunFolder the caller opened. */
  out: string | RunFolder;
  /**
   * Stop after this many minibatches in total (a checkpoint is written there; on an epoch's last batch, after
   * that epoch's evaluation and check); the schedule is unchanged.
   */
  maxSteps?: number;
  progress?: boolean;
  log?: (line: string) => void;
  /** Recorded in the run's first metrics line ('start' or 'resume'), e.g. the adapter and the data folder. */
  context?: Record<string, unknown>;
  /** Run the method's reuse probes every `every` minibatches (metrics lines of type 'probe'). */
  probe?: { every: number };
  /** Once aborted (a scheduler's SIGTERM), stop after the current minibatch as at `maxSteps`: checkpointed there. */
  stop?: AbortSignal;
}

/** The settings a resumed run may change; everything else is the saved configuration. */
export const RESUMABLE = ['epochs', 'checkpointMinutes', 'logEvery'] as const;
export type ResumeChanges = Partial<Pick<RunConfig, (typeof RESUMABLE)[number]>>;

/** Each setting a resume changes: its saved and its given value. */
export type Changed = Record<string, { saved: unknown; given: unknown }>;

/**
 * A saved run configuration, with the fields added since older states were written at their old meaning: SGD, and
 * the threat model (L-inf at the eps older runs recorded among the method's options, else the dataset's).
 */
export function savedRunConfig(st: TrainState): RunConfig {
  const c = { optimizer: 'sgd', ...(st.config as unknown as Partial<RunConfig>) } as RunConfig;
  if (c.threat) return c;
  const { method, threat } = splitLegacyEps(c.method);
  const { norm, eps } = findDataset(c.data).threat;
  return { ...c, method: method as MethodConfig, threat: threat ?? { norm, eps } };
}

/** The configuration a resume continues with: the saved one, with `changes` that differ from it applied. */
export function resumedConfig(saved: RunConfig, changes: ResumeChanges): { config: RunConfig; changed: Changed } {
  const changed: Changed = {};
  for (const [k, v] of Object.entries(changes) as [keyof ResumeChanges, number | undefined][]) {
    if (v !== undefined && v !== saved[k]) changed[k] = { saved: saved[k], given: v };
  }
  return {
    config: { ...saved, ...Object.fromEntries(Object.entries(changed).map(([k, c]) => [k, c.given])) },
    changed,
  };
}

/** What a model checkpoint's metadata records of its run, beside the dataset's own record. */
export function modelMetadata(
  config: RunConfig,
  data: Datasets,
  architecture: ResolvedModel,
  at: { epoch: number; step: number; run: string; commit: string },
): ModelMetadata {
  return {
    ...data.metadata,
    architecture: architecture.name,
    classes: String(config.classes),
    input: JSON.stringify(architecture.input),
    dataset: config.data,
    normalization: config.normalization,
    method: JSON.stringify(config.method),
    optimizer: config.optimizer,
    threat: JSON.stringify(config.threat),
    epoch: String(at.epoch),
    step: String(at.step),
    run: at.run,
    commit: at.commit,
  };
}

/** A learning rate with 4 significant digits. */
const fmtLr = (lr: number): string => String(Number(lr.toPrecision(4)));

/**
 * What a resume that changes --epochs does to a schedule that is not constant: it stretches over the new length
 * (old and new length, and the rate at the current iteration before and after); null where nothing changes.
 */
export function stretchNote(
  config: RunConfig,
  changed: Changed,
  schedule: Schedule,
  iterationsPerEpoch: number,
  iteration: number,
): string | null {
  const epochs = changed.epochs;
  if (!epochs || schedule.kind === 'constant') return null;
  const saved = (epochs.saved as number) * iterationsPerEpoch;
  const total = config.epochs * iterationsPerEpoch;
  const i = iteration;
  const before = lrAt(schedule, Math.min(i, saved - 1), saved);
  const after =
    i < total ? `, at iteration ${i} the rate is ${fmtLr(lrAt(schedule, i, total))} instead of ${fmtLr(before)}` : '';
  return `advfree: --epochs ${epochs.given} (saved: ${epochs.saved}) stretches the ${config.schedule} learning-rate schedule from ${saved} to ${total} SGD iterations${after}`;
}

/** What the per-epoch evaluation runs on: the held-out part of the training split, or the test split. */
export const evaluationSplit = (c: Pick<RunConfig, 'validation'>): 'validation' | 'test' =>
  c.validation ? 'validation' : 'test';
