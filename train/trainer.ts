// The training loop: epochs of minibatches from a seeded loader, augmented on the GPU, handed to a training
// method; learning rate per SGD iteration; progress on stderr; metrics as JSON lines (train/metrics.ts); test
// accuracy and the method's check after each epoch; checkpoints every epoch and every few minutes into the run
// folder (train/run-folder.ts), from which `resume` continues to the same result as an uninterrupted run. A loss
// or weight that becomes NaN or Inf stops the run (as PyTorch's anomaly detection would) before it is checkpointed.
import { join, relative, resolve } from 'node:path';
import { augmentChoices, memory, rt, tidy, type Tensor } from '../engine/index.js';
import { addPasses, noPasses, type BatchInfo, type HostStateArray, type Method, type MethodConfig, type PassCounts, type TrainModel } from '../adversarial/method.js';
import { createMethod, resolveMethod, sgdStepsPerBatch, splitLegacyEps, type ResolvedMethod } from '../adversarial/registry.js';
import { ThreatModel, type ThreatSpec } from '../adversarial/threat.js';
import { encodeModel, gitCommit, modelEntries } from '../nn/checkpoint.js';
import { badTensors, describeBad } from '../nn/finite.js';
import type { SafetensorsEntry } from '../nn/safetensors.js';
import { unitBox, type FeatureBox, type SplitData } from '../data/dataset.js';
import { findDataset } from '../data/registry.js';
import { AUGMENT_PAD, Loader, uploadRange, type Batch } from '../data/loader.js';
import { evaluateClean } from '../nn/evaluate.js';
import { createOptimizer, type Optimizer, type OptimizerName } from '../nn/optim.js';
import { Progress } from './progress.js';
import { lrAt, parseSchedule, type Schedule } from '../nn/schedule.js';
import type { Classifier, ResolvedModel } from '../nn/model.js';
import { resolveModel } from '../nn/registry.js';
import { stepContext } from './context.js';
import { countedModel } from './model.js';
import { PassMeter } from './passes.js';
import { Metrics, newRunId } from './metrics.js';
import { ProbeRunner } from './probes.js';
import { latestPair, loadPairModel, RUN_FILES, RunFolder } from './run-folder.js';
import { encodeTrainState, loadTrainState, restoreHostArrays, restoreTensors, trainStateEntries, type TrainState } from './train-state.js';

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

export interface EpochSummary {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
  passes: PassCounts;
}

/** The settings a resumed run may change; everything else is the saved configuration. */
export const RESUMABLE = ['epochs', 'checkpointMinutes', 'logEvery'] as const;
export type ResumeChanges = Partial<Pick<RunConfig, (typeof RESUMABLE)[number]>>;

/** The prefix of the optimizer's host counters (Adam's step count) among the training state's counters. */
const OPTIMIZER_COUNTERS = 'optimizer.';

/** Results are read back in groups of this many steps, so the GPU queue never drains while the host waits. */
const READBACK_GROUP = 8;

const prefixed = (values: object, prefix: string): Record<string, number> =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));

const unprefixed = (c: Record<string, number>, prefix: string): Record<string, number> =>
  Object.fromEntries(Object.entries(c).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));

function unpackPasses(c: Record<string, number>, prefix: string): PassCounts {
  const p = noPasses();
  for (const k of Object.keys(p) as (keyof PassCounts)[]) p[k] = c[prefix + k] ?? 0;
  return p;
}

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

/** A loss of `step` that is NaN or Inf (null: a tensor is); run() turns it into the error naming the tensor and checkpoint. */
class Diverged extends Error {
  constructor(
    readonly step: number,
    readonly loss: number | null,
  ) {
    super(`diverged at step ${step}`);
  }
}

/** The F32 entries holding NaN or Inf (or a negative running variance), in order. */
const nonFinite = (entries: Record<string, SafetensorsEntry>) =>
  badTensors(Object.entries(entries).flatMap(([name, e]): [string, Float32Array][] => (e.dtype === 'F32' ? [[name, e.data as Float32Array]] : [])));

/** A learning rate with 4 significant digits. */
const fmtLr = (lr: number): string => String(Number(lr.toPrecision(4)));

export class Trainer {
  readonly model: Classifier;
  /** The model as resolved from its name, the input shape and the classes. */
  readonly architecture: ResolvedModel;
  readonly loader: Loader;
  readonly method: Method;
  readonly resolved: ResolvedMethod;
  readonly threat: ThreatModel;
  private readonly opt: Optimizer;
  private readonly params;
  private readonly meter: PassMeter;
  private readonly counted: TrainModel;
  private readonly totalIterations: number;
  private readonly schedule: Schedule;
  /** The code's commit when the run started (HEAD may move while a long run trains). */
  private readonly commit = gitCommit();
  private readonly stepsPerEpoch: number;
  private step = 0;
  private iteration = 0;
  private lastLr = Number.NaN;
  private epochStats = { lossSum: 0, correct: 0, seen: 0, seconds: 0, passes: noPasses() };
  /** Steps whose loss and accuracy are not read back yet; `step` counts steps taken, this one included. */
  private pending: { loss: Tensor; correct: Tensor; count: number; step: number }[] = [];
  /** Where this trainer was resumed from, and the settings changed on resume; null for a new run. */
  private resumed: { dir: string; pair: string; changed: Record<string, { saved: unknown; given: unknown }> } | null = null;
  /** Whether the run's first metrics line ('start' or 'resume') is written. */
  private announced = false;
  /** The reuse probes of the last run() with `probe`: their passes and time, apart from the method's. */
  probes: ProbeRunner | null = null;

  constructor(
    readonly config: RunConfig,
    readonly data: Datasets,
    /** The run's id in every metrics line and the training state; kept across resumes. */
    readonly runId: string = newRunId(),
  ) {
    this.resolved = resolveMethod(config.method, config.threat);
    this.config = { ...config, method: this.resolved.config };
    this.threat = new ThreatModel(config.threat, data.box ?? unitBox(data.train.shape));
    this.schedule = parseSchedule(config.schedule, config.lr);
    this.architecture = resolveModel(config.model, data.train.shape, config.classes);
    this.model = this.architecture.build(config.seed);
    this.params = this.model.namedParameters();
    this.opt = createOptimizer(config.optimizer, this.params, { momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay, decay: config.decay });
    this.loader = new Loader(data.train, { batchSize: config.batch, seed: config.seed, augment: config.augment });
    this.stepsPerEpoch = this.loader.batchesPerEpoch;
    this.meter = new PassMeter(this.params.map(([, p]) => p.tensor));
    this.counted = countedModel(this.model, this.meter);
    this.method = createMethod(this.resolved, {
      batchShape: [config.batch, ...data.train.shape], threat: this.threat, seed: config.seed, trainSize: data.train.count, classes: config.classes,
      augmentPad: config.augment ? AUGMENT_PAD : 0,
    });
    this.totalIterations = config.epochs * this.stepsPerEpoch * sgdStepsPerBatch(this.resolved);
  }

  private get passes(): PassCounts {
    return this.meter.passes;
  }

  /**
   * Restores weights, optimizer state, method state and position from the latest checkpoint pair of a run folder;
   * `changes` are the settings a resume may change (RESUMABLE), recorded in the run's 'resume' metrics line.
   */
  static async resume(dir: string, loadData: (c: RunConfig) => Promise<Datasets>, changes: ResumeChanges = {}): Promise<Trainer> {
    const pair = latestPair(dir);
    const saved = await loadTrainState(join(pair, RUN_FILES.state));
    const st = saved.state;
    const savedConfig = savedRunConfig(st);
    const changed: Record<string, { saved: unknown; given: unknown }> = {};
    for (const [k, v] of Object.entries(changes) as [keyof ResumeChanges, number | undefined][]) {
      if (v !== undefined && v !== savedConfig[k]) changed[k] = { saved: savedConfig[k], given: v };
    }
    const config = { ...savedConfig, ...Object.fromEntries(Object.entries(changed).map(([k, c]) => [k, c.given])) };
    const t = new Trainer(config, await loadData(config), st.run ?? newRunId());
    await loadPairModel(pair, t.model, st.step);
    restoreTensors(saved, t.stateTensors());
    restoreHostArrays(saved, await t.hostArrays());
    const c = st.counters;
    try {
      t.opt.setCounters(unprefixed(c, OPTIMIZER_COUNTERS));
    } catch (e) {
      throw new Error(`${saved.file}: ${(e as Error).message}`);
    }
    t.step = st.step;
    t.iteration = c.iteration;
    Object.assign(t.meter.passes, unpackPasses(c, 'run.'));
    t.epochStats = { lossSum: c.lossSum, correct: c.correct, seen: c.seen, seconds: c.seconds, passes: unpackPasses(c, 'epoch.') };
    t.loader.seek(st.position);
    t.resumed = { dir, pair, changed };
    return t;
  }

  /** The live tensors of the training state besides the model: the optimizer's and the method's carried tensors. */
  private stateTensors(): Record<string, Tensor> {
    const out = { ...this.opt.state };
    for (const [k, v] of Object.entries(this.method.state?.() ?? {})) out[`method.${k}`] = v;
    return out;
  }

  /** The method's host arrays of the training state, after its pending writes. */
  private async hostArrays(): Promise<Record<string, HostStateArray>> {
    const host = (await this.method.hostState?.()) ?? {};
    return Object.fromEntries(Object.entries(host).map(([k, v]) => [`method.${k}`, v]));
  }

  get stepsDone(): number {
    return this.step;
  }

  get totalPasses(): PassCounts {
    return { ...this.passes };
  }

  private lr(): number {
    return lrAt(this.schedule, this.iteration, this.totalIterations);
  }

  /**
   * Commits the checkpoint pair (weights; training state) of the current step to the run folder. A pair holding
   * NaN or Inf is never written (nor a batch-norm running variance below 0): the run stops instead.
   */
  private async checkpoint(folder: RunFolder): Promise<void> {
    await rt().sync();
    const { config } = this;
    const epoch = this.loader.position().epoch;
    const e = this.epochStats;
    const state: TrainState = {
      run: this.runId,
      step: this.step,
      epoch,
      position: this.loader.position(),
      rng: { seed: config.seed },
      config: config as unknown as TrainState['config'],
      counters: {
        iteration: this.iteration,
        lossSum: e.lossSum,
        correct: e.correct,
        seen: e.seen,
        seconds: e.seconds,
        ...prefixed(this.passes, 'run.'),
        ...prefixed(e.passes, 'epoch.'),
        ...prefixed(this.opt.counters(), OPTIMIZER_COUNTERS),
      },
    };
    const model = await modelEntries(this.model);
    const tensors = await trainStateEntries(RUN_FILES.state, { tensors: this.stateTensors(), host: await this.hostArrays() });
    if (nonFinite({ ...model, ...tensors }).length) throw new Diverged(this.step, null);
    const metadata = {
      ...this.data.metadata,
      architecture: this.architecture.name,
      classes: String(config.classes),
      input: JSON.stringify(this.architecture.input),
      dataset: config.data,
      normalization: config.normalization,
      method: JSON.stringify(config.method),
      optimizer: config.optimizer,
      threat: JSON.stringify(config.threat),
      epoch: String(epoch),
      step: String(this.step),
      run: this.runId,
      commit: this.commit,
    };
    await folder.save(this.step, { model: encodeModel(model, metadata), state: encodeTrainState(RUN_FILES.state, tensors, state) });
  }

  /**
   * The error of a diverged run: the step, the first tensor that is NaN or Inf now (weights, batch-norm statistics,
   * optimizer and method state) and the last checkpoint, which holds only finite values. Also recorded in the metrics.
   */
  private async divergence(d: Diverged, folder: RunFolder): Promise<Error> {
    const now = nonFinite({ ...(await modelEntries(this.model)), ...(await trainStateEntries(RUN_FILES.state, { tensors: this.stateTensors() })) });
    const tensor = now.length
      ? `at step ${this.step} the first non-finite tensor is ${describeBad(now[0])}${now.length > 1 ? ` (${now.length} tensors hold such values)` : ''}`
      : `at step ${this.step} every tensor is still finite`;
    const loss = d.loss === null ? `${tensor}, found before its checkpoint (the losses read back so far are finite)` : `the loss of step ${d.step} is ${d.loss}; ${tensor}`;
    let last: string;
    try {
      last = `the last finite checkpoint, ${latestPair(folder.dir)}, is intact`;
    } catch {
      last = 'no checkpoint was written before it';
    }
    new Metrics(folder.metricsFile, this.runId).emit('diverged', d.step, { loss: d.loss === null ? null : String(d.loss), tensors: now.map(describeBad) });
    return new Error(
      `training diverged: ${loss}. Stopped without checkpointing it: ${last}. ` +
        'Resuming would repeat the same steps: start a new run with another --out and a lower --lr (or --weight-decay, --momentum)',
    );
  }

  async run(opts: TrainOptions): Promise<EpochSummary[]> {
    const own = typeof opts.out === 'string';
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const continues = this.resumed !== null && own && resolve(opts.out as string) === resolve(this.resumed.dir);
    const folder = typeof opts.out === 'string' ? RunFolder.open(opts.out, continues ? 'resume' : 'new', log) : opts.out;
    try {
      return await this.loop(folder, opts, log);
    } catch (e) {
      throw e instanceof Diverged ? await this.divergence(e, folder) : e;
    } finally {
      if (own) folder.release();
    }
  }

  private async loop(folder: RunFolder, opts: TrainOptions, log: (line: string) => void): Promise<EpochSummary[]> {
    const { config } = this;
    const { maxSteps } = opts;
    if (maxSteps !== undefined && maxSteps < this.step) {
      throw new Error(`--max-steps ${maxSteps} is below step ${this.step}, where the run in ${folder.dir} already is; give --max-steps ${this.step} or more`);
    }
    const metrics = new Metrics(folder.metricsFile, this.runId, log);
    this.announce(metrics, folder, opts.context ?? {}, log);
    const progress = opts.progress === false ? null : new Progress({ epochs: config.epochs, stepsPerEpoch: this.stepsPerEpoch, intervalSteps: config.logEvery });
    const summaries: EpochSummary[] = [];
    const reachedMax = () => (maxSteps !== undefined && this.step >= maxSteps) || !!opts.stop?.aborted;
    let lastCheckpoint = performance.now();
    const checkpoint = async () => {
      await this.checkpoint(folder);
      lastCheckpoint = performance.now();
    };
    const startStep = this.step;
    const t0 = performance.now();
    const probe = opts.probe ? this.probeHook(opts.probe.every, metrics) : null;
    let stopped = reachedMax();
    while (!stopped && this.loader.position().epoch < config.epochs) {
      const epoch = this.loader.position().epoch;
      const epochStart = performance.now() - this.epochStats.seconds * 1000;
      for await (const b of this.loader.epoch()) {
        this.trainStep(b);
        await probe?.(epoch + 1);
        const inEpoch = b.batch + 1;
        const last = inEpoch === this.stepsPerEpoch;
        const logNow = this.step % config.logEvery === 0;
        if (this.pending.length >= READBACK_GROUP || last || logNow) {
          await this.drain();
          const s = this.epochStats;
          progress?.update({ epoch: epoch + 1, step: inEpoch, images: (this.step - startStep) * config.batch, loss: s.lossSum / s.seen, accuracy: s.correct / s.seen });
          if (logNow) metrics.emit('step', this.step, { epoch: epoch + 1, iteration: this.iteration, lr: this.lastLr, train_loss: s.lossSum / s.seen, train_accuracy: s.correct / s.seen });
        }
        // The epoch's last batch is checkpointed after the epoch's evaluation and check, below.
        if (last) break;
        if (reachedMax() || performance.now() - lastCheckpoint > config.checkpointMinutes * 60_000) {
          await this.drain();
          this.epochStats.seconds = (performance.now() - epochStart) / 1000;
          await checkpoint();
        }
        if (reachedMax()) {
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      const summary = await this.endEpoch(epoch, (performance.now() - epochStart) / 1000, metrics, progress);
      summaries.push(summary);
      const verdict = await this.epochEnd();
      if (verdict) {
        metrics.emit('guard', this.step, { epoch: summary.epoch, stop: verdict.stop, note: verdict.note });
        progress?.log(verdict.note);
        if (verdict.stop) {
          progress?.log(`the latest checkpoint in ${folder.dir} is from before this epoch's end`);
          break;
        }
      }
      await checkpoint();
      stopped = reachedMax();
    }
    probe?.dispose();
    if (stopped) progress?.log(`stopped after ${this.step} steps (${opts.stop?.aborted ? 'asked to stop' : '--max-steps'}); resume with --resume ${folder.dir}`);
    progress?.done();
    if (!progress) log(`trained ${this.step - startStep} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return summaries;
  }

  /**
   * The run's first metrics line: 'start' with the configuration, or 'resume' with the settings changed. A resume
   * that changes --epochs stretches the learning-rate schedule over the new length: said on `log`.
   */
  private announce(metrics: Metrics, folder: RunFolder, context: Record<string, unknown>, log: (line: string) => void): void {
    if (this.announced) return;
    this.announced = true;
    if (!this.resumed) {
      metrics.emit('start', this.step, { config: this.config, commit: this.commit, ...context });
      return;
    }
    metrics.emit('resume', this.step, { from: relative(folder.dir, this.resumed.pair) || '.', changed: this.resumed.changed, commit: this.commit, ...context });
    const epochs = this.resumed.changed.epochs;
    if (epochs && this.schedule.kind !== 'constant') {
      const saved = (epochs.saved as number) * this.stepsPerEpoch * sgdStepsPerBatch(this.resolved);
      const i = this.iteration;
      const before = lrAt(this.schedule, Math.min(i, saved - 1), saved);
      const after = i < this.totalIterations ? `, at iteration ${i} the rate is ${fmtLr(lrAt(this.schedule, i, this.totalIterations))} instead of ${fmtLr(before)}` : '';
      log(`advfree: --epochs ${epochs.given} (saved: ${epochs.saved}) stretches the ${this.config.schedule} learning-rate schedule from ${saved} to ${this.totalIterations} SGD iterations${after}`);
    }
  }

  /** One minibatch through the method; its loss and accuracy join the pending readbacks. */
  private trainStep(b: Batch): void {
    const ctx = stepContext({
      model: this.counted,
      opt: this.opt,
      meter: this.meter,
      nextLr: () => {
        this.lastLr = this.lr();
        this.iteration++;
        return this.lastLr;
      },
      step: this.step,
      seed: this.config.seed,
      batch: this.batchInfo(b),
    });
    const before = { ...this.passes };
    const result = this.meter.measure(() => tidy(() => {
      const { x, y } = this.loader.upload(b);
      return this.method.step(x, y, ctx);
    }));
    addPasses(this.epochStats.passes, this.passes);
    addPasses(this.epochStats.passes, before, -1);
    this.step++;
    this.pending.push({ ...result, count: b.count, step: this.step });
  }

  /** Reads back the pending steps' losses and accuracies into the epoch's totals; a non-finite loss stops the run. */
  private async drain(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const values = await Promise.all(pending.map(async (p) => [await p.loss.item(), await p.correct.item(), p.count] as const));
    for (const p of pending) {
      p.loss.dispose();
      p.correct.dispose();
    }
    const bad = values.findIndex(([loss]) => !Number.isFinite(loss));
    if (bad >= 0) throw new Diverged(pending[bad].step, values[bad][0]);
    for (const [loss, correct, count] of values) {
      this.epochStats.lossSum += loss * count;
      this.epochStats.correct += correct;
      this.epochStats.seen += count;
    }
  }

  /** Evaluates on the test set, records the epoch (metrics line, progress) and starts the next epoch's totals. */
  private async endEpoch(epoch: number, seconds: number, metrics: Metrics, progress: Progress | null): Promise<EpochSummary> {
    const { config } = this;
    const test = await evaluateClean(this.model, this.data.test, Math.max(config.batch, 256));
    const s = this.epochStats;
    const summary: EpochSummary = {
      epoch: epoch + 1,
      trainLoss: s.lossSum / s.seen,
      trainAccuracy: s.correct / s.seen,
      testAccuracy: test.correct / test.examples,
      seconds,
      imagesPerSecond: s.seen / seconds,
      passes: s.passes,
    };
    metrics.emit('epoch', this.step, {
      epoch: summary.epoch, train_loss: summary.trainLoss, train_accuracy: summary.trainAccuracy,
      test_accuracy: summary.testAccuracy, test_examples: test.examples, seconds, images_per_second: summary.imagesPerSecond,
      passes: s.passes, gpu_bytes_in_use: memory().bytesInUse,
    });
    progress?.log(
      `epoch ${summary.epoch}/${config.epochs}: train loss ${summary.trainLoss.toFixed(4)} acc ${(summary.trainAccuracy * 100).toFixed(2)}%, ` +
        `test acc ${(summary.testAccuracy * 100).toFixed(2)}% (${test.examples} images), ${(seconds / 60).toFixed(1)} min, ${summary.imagesPerSecond.toFixed(1)} img/s`,
    );
    this.epochStats = { lossSum: 0, correct: 0, seen: 0, seconds: 0, passes: noPasses() };
    return summary;
  }

  /** Where a batch came from: its example indices and the crop and flip of each example. */
  private batchInfo(b: Batch): BatchInfo {
    const a = this.loader.augmentation(b);
    return { indices: b.indices, epoch: b.epoch, augment: a ? { pad: a.pad, ...augmentChoices(a, b.count) } : null };
  }

  /** The first training images, without augmentation: a batch the method never trains on in this form. */
  private heldBatch(): { x: Tensor; y: Tensor } {
    const { train } = this.data;
    return uploadRange(train, 0, Math.min(this.config.batch, train.count), 'held');
  }

  /** A call after each minibatch that runs the method's probes on the held batch every `every` minibatches. */
  private probeHook(every: number, metrics: Metrics): ((epoch: number) => Promise<void>) & { dispose(): void } {
    // After the run's last SGD step the schedule has no next rate: the probe steps with the last one.
    const lr = () => lrAt(this.schedule, Math.min(this.iteration, this.totalIterations - 1), this.totalIterations);
    const runner = new ProbeRunner(this.model, this.opt, this.resolved, this.method, this.threat, lr);
    this.probes = runner;
    const held = this.heldBatch();
    const hook = async (epoch: number) => {
      if (this.step % every !== 0) return;
      const values = await runner.run(held, this.step, this.config.seed);
      metrics.emit('probe', this.step, {
        epoch, iteration: this.iteration, epoch_progress: this.step / this.stepsPerEpoch, ...values,
        probe_passes: { ...runner.meter.passes }, probe_seconds: runner.seconds,
      });
    };
    return Object.assign(hook, { dispose: () => [held.x, held.y].forEach((t) => t.dispose()) });
  }

  /** The method's end-of-epoch check, on the held batch. */
  private async epochEnd(): Promise<{ stop: boolean; note: string } | null> {
    if (!this.method.epochEnd) return null;
    const { x, y } = this.heldBatch();
    try {
      return await this.method.epochEnd(this.counted, { x, y });
    } finally {
      x.dispose();
      y.dispose();
    }
  }

  dispose(): void {
    this.method.dispose?.();
    this.threat.dispose();
    this.opt.dispose();
    this.model.dispose();
  }
}

