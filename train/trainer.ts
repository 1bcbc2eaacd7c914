// The training loop: epochs of minibatches from a seeded loader, augmented on the GPU, handed to a training
// method; learning rate per SGD iteration; progress on stderr; metrics as JSON lines (train/metrics.ts); test
// accuracy and the method's check after each epoch; checkpoints every epoch and every few minutes into the run
// folder (train/run-folder.ts), from which `resume` continues to the same result as an uninterrupted run. A loss
// or weight that becomes NaN or Inf stops the run before it is checkpointed (train/divergence.ts).
import { join, relative, resolve } from 'node:path';
import { augmentChoices, rt, tidy } from '../engine/index.js';
import { addPasses, type BatchInfo, type Method, type PassCounts, type TrainModel } from '../adversarial/method.js';
import { createMethod, resolveMethod, sgdStepsPerBatch, type ResolvedMethod } from '../adversarial/registry.js';
import { ThreatModel } from '../adversarial/threat.js';
import { encodeModel, gitCommit, modelEntries } from '../nn/checkpoint.js';
import { unitBox } from '../data/dataset.js';
import { AUGMENT_PAD, Loader, type Batch } from '../data/loader.js';
import { evaluateClean } from '../nn/evaluate.js';
import { createOptimizer, type Optimizer } from '../nn/optim.js';
import { lrAt, parseSchedule, type Schedule } from '../nn/schedule.js';
import type { Classifier, ResolvedModel } from '../nn/model.js';
import { resolveModel } from '../nn/registry.js';
import { stepContext } from './context.js';
import { checkFinite, Diverged, divergenceError } from './divergence.js';
import {
  epochFields,
  epochLine,
  epochSummary,
  noEpochTotals,
  PendingSteps,
  type EpochSummary,
  type EpochTotals,
} from './epoch.js';
import { Metrics, newRunId } from './metrics.js';
import { countedModel } from './model.js';
import { PassMeter } from './passes.js';
import { heldBatch, ProbeRunner, ProbeSchedule } from './probes.js';
import { Progress } from './progress.js';
import {
  evaluationSplit,
  modelMetadata,
  resumedConfig,
  savedRunConfig,
  stretchNote,
  type Changed,
  type Datasets,
  type ResumeChanges,
  type RunConfig,
  type TrainOptions,
} from './run-config.js';
import { latestPair, loadPairModel, RUN_FILES, RunFolder } from './run-folder.js';
import {
  encodeTrainState,
  hostArrays,
  loadTrainState,
  packTotals,
  restoreHostArrays,
  restoreTensors,
  stateTensors,
  trainStateEntries,
  unpackTotals,
  type LoadedTrainState,
  type TrainState,
} from './train-state.js';

export class Trainer {
  readonly model: Classifier;
  /** The model as resolved from its name, the input shape and the classes. */
  readonly architecture: ResolvedModel;
  readonly loader: Loader;
  readonly method: Method;
  readonly resolved: ResolvedMethod;
  readonly threat: ThreatModel;
  private readonly opt: Optimizer;
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
  private epoch: EpochTotals = noEpochTotals();
  /** Steps whose loss and accuracy are not read back yet. */
  private readonly pending = new PendingSteps();
  /** Where this trainer was resumed from, and the settings changed on resume; null for a new run. */
  private resumed: { dir: string; pair: string; changed: Changed } | null = null;
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
    const params = this.model.namedParameters();
    this.opt = createOptimizer(config.optimizer, params, {
      momentum: config.momentum,
      nesterov: config.nesterov,
      weightDecay: config.weightDecay,
      decay: config.decay,
    });
    this.loader = new Loader(data.train, { batchSize: config.batch, seed: config.seed, augment: config.augment });
    this.stepsPerEpoch = this.loader.batchesPerEpoch;
    this.meter = new PassMeter(params.map(([, p]) => p.tensor));
    this.counted = countedModel(this.model, this.meter);
    this.method = createMethod(this.resolved, {
      batchShape: [config.batch, ...data.train.shape],
      threat: this.threat,
      seed: config.seed,
      trainSize: data.train.count,
      classes: config.classes,
      augmentPad: config.augment ? AUGMENT_PAD : 0,
    });
    this.totalIterations = config.epochs * this.stepsPerEpoch * sgdStepsPerBatch(this.resolved);
  }

  /**
   * Restores weights, optimizer state, method state and position from the latest checkpoint pair of a run folder;
   * `changes` are the settings a resume may change (RESUMABLE), recorded in the run's 'resume' metrics line.
   */
  static async resume(
    dir: string,
    loadData: (c: RunConfig) => Promise<Datasets>,
    changes: ResumeChanges = {},
  ): Promise<Trainer> {
    const pair = latestPair(dir);
    const saved = await loadTrainState(join(pair, RUN_FILES.state));
    const { config, changed } = resumedConfig(savedRunConfig(saved.state), changes);
    const t = new Trainer(config, await loadData(config), saved.state.run ?? newRunId());
    await t.restore(pair, saved);
    t.resumed = { dir, pair, changed };
    return t;
  }

  private async restore(pair: string, saved: LoadedTrainState): Promise<void> {
    const st = saved.state;
    await loadPairModel(pair, this.model, st.step);
    restoreTensors(saved, stateTensors(this.opt, this.method));
    restoreHostArrays(saved, await hostArrays(this.method));
    const totals = unpackTotals(st.counters);
    try {
      this.opt.setCounters(totals.optimizer);
    } catch (e) {
      throw new Error(`${saved.file}: ${(e as Error).message}`);
    }
    this.step = st.step;
    this.iteration = totals.iteration;
    Object.assign(this.meter.passes, totals.passes);
    this.epoch = totals.epoch;
    this.loader.seek(st.position);
  }

  get stepsDone(): number {
    return this.step;
  }

  get totalPasses(): PassCounts {
    return { ...this.meter.passes };
  }

  /**
   * Commits the checkpoint pair (weights; training state) of the current step to the run folder. A pair holding
   * NaN or Inf is never written (nor a batch-norm running variance below 0): the run stops instead.
   */
  private async checkpoint(folder: RunFolder): Promise<void> {
    await rt().sync();
    const { config, step } = this;
    const position = this.loader.position();
    const counters = packTotals({
      iteration: this.iteration,
      epoch: this.epoch,
      passes: this.meter.passes,
      optimizer: this.opt.counters(),
    });
    const state = {
      run: this.runId,
      step,
      epoch: position.epoch,
      position,
      rng: { seed: config.seed },
      config: config as unknown as TrainState['config'],
      counters,
    };
    const model = await modelEntries(this.model);
    const tensors = await trainStateEntries(RUN_FILES.state, {
      tensors: stateTensors(this.opt, this.method),
      host: await hostArrays(this.method),
    });
    checkFinite({ ...model, ...tensors }, step);
    const metadata = modelMetadata(config, this.data, this.architecture, {
      epoch: position.epoch,
      step,
      run: this.runId,
      commit: this.commit,
    });
    await folder.save(step, {
      model: encodeModel(model, metadata),
      state: encodeTrainState(RUN_FILES.state, tensors, state),
    });
  }

  async run(opts: TrainOptions): Promise<EpochSummary[]> {
    const own = typeof opts.out === 'string';
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const continues = this.resumed !== null && own && resolve(opts.out as string) === resolve(this.resumed.dir);
    const folder =
      typeof opts.out === 'string' ? RunFolder.open(opts.out, continues ? 'resume' : 'new', log) : opts.out;
    try {
      return await this.loop(folder, opts, log);
    } catch (e) {
      if (!(e instanceof Diverged)) throw e;
      const now = {
        ...(await modelEntries(this.model)),
        ...(await trainStateEntries(RUN_FILES.state, { tensors: stateTensors(this.opt, this.method) })),
      };
      throw divergenceError(e, this.step, now, folder, this.runId);
    } finally {
      if (own) folder.release();
    }
  }

  private async loop(folder: RunFolder, opts: TrainOptions, log: (line: string) => void): Promise<EpochSummary[]> {
    const { config } = this;
    const { maxSteps } = opts;
    if (maxSteps !== undefined && maxSteps < this.step) {
      throw new Error(
        `--max-steps ${maxSteps} is below step ${this.step}, where the run in ${folder.dir} already is; give --max-steps ${this.step} or more`,
      );
    }
    const metrics = new Metrics(folder.metricsFile, this.runId, log);
    this.announce(metrics, folder, opts.context ?? {}, log);
    const progress =
      opts.progress === false
        ? null
        : new Progress({ epochs: config.epochs, stepsPerEpoch: this.stepsPerEpoch, intervalSteps: config.logEvery });
    const summaries: EpochSummary[] = [];
    const reachedMax = () => (maxSteps !== undefined && this.step >= maxSteps) || !!opts.stop?.aborted;
    let lastCheckpoint = performance.now();
    const checkpoint = async () => {
      await this.checkpoint(folder);
      lastCheckpoint = performance.now();
    };
    const startStep = this.step;
    const t0 = performance.now();
    const probe = opts.probe ? this.probeSchedule(opts.probe.every, metrics) : null;
    let stopped = reachedMax();
    while (!stopped && this.loader.position().epoch < config.epochs) {
      const epoch = this.loader.position().epoch;
      const epochStart = performance.now() - this.epoch.seconds * 1000;
      for await (const b of this.loader.epoch()) {
        this.trainStep(b);
        await probe?.after(this.step, {
          epoch: epoch + 1,
          iteration: this.iteration,
          epoch_progress: this.step / this.stepsPerEpoch,
        });
        const inEpoch = b.batch + 1;
        const last = inEpoch === this.stepsPerEpoch;
        const logNow = this.step % config.logEvery === 0;
        if (this.pending.full || last || logNow) {
          await this.pending.drain(this.epoch);
          const s = this.epoch;
          progress?.update({
            epoch: epoch + 1,
            step: inEpoch,
            images: (this.step - startStep) * config.batch,
            loss: s.lossSum / s.seen,
            accuracy: s.correct / s.seen,
          });
          if (logNow)
            metrics.emit('step', this.step, {
              epoch: epoch + 1,
              iteration: this.iteration,
              lr: this.lastLr,
              train_loss: s.lossSum / s.seen,
              train_accuracy: s.correct / s.seen,
            });
        }
        // The epoch's last batch is checkpointed after the epoch's evaluation and check, below.
        if (last) break;
        if (reachedMax() || performance.now() - lastCheckpoint > config.checkpointMinutes * 60_000) {
          await this.pending.drain(this.epoch);
          this.epoch.seconds = (performance.now() - epochStart) / 1000;
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
    if (stopped)
      progress?.log(
        `stopped after ${this.step} steps (${opts.stop?.aborted ? 'asked to stop' : '--max-steps'}); resume with --resume ${folder.dir}`,
      );
    progress?.done();
    if (!progress) log(`trained ${this.step - startStep} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return summaries;
  }

  /**
   * The run's first metrics line: 'start' with the configuration, or 'resume' with the settings changed. A resume
   * that changes --epochs stretches the learning-rate schedule over the new length: said on `log`.
   */
  private announce(
    metrics: Metrics,
    folder: RunFolder,
    context: Record<string, unknown>,
    log: (line: string) => void,
  ): void {
    if (this.announced) return;
    this.announced = true;
    if (!this.resumed) {
      metrics.emit('start', this.step, { config: this.config, commit: this.commit, ...context });
      return;
    }
    const { changed } = this.resumed;
    metrics.emit('resume', this.step, {
      from: relative(folder.dir, this.resumed.pair) || '.',
      changed,
      commit: this.commit,
      ...context,
    });
    const note = stretchNote(
      this.config,
      changed,
      this.schedule,
      this.stepsPerEpoch * sgdStepsPerBatch(this.resolved),
      this.iteration,
    );
    if (note) log(note);
  }

  /** One minibatch through the method; its loss and accuracy join the pending readbacks. */
  private trainStep(b: Batch): void {
    const ctx = stepContext({
      model: this.counted,
      opt: this.opt,
      meter: this.meter,
      nextLr: () => {
        this.lastLr = lrAt(this.schedule, this.iteration, this.totalIterations);
        this.iteration++;
        return this.lastLr;
      },
      step: this.step,
      seed: this.config.seed,
      batch: this.batchInfo(b),
    });
    const before = this.totalPasses;
    const result = this.meter.measure(() =>
      tidy(() => {
        const { x, y } = this.loader.upload(b);
        return this.method.step(x, y, ctx);
      }),
    );
    addPasses(this.epoch.passes, this.meter.passes);
    addPasses(this.epoch.passes, before, -1);
    this.step++;
    this.pending.push(result, b.count, this.step);
  }

  /** Evaluates on the test set, records the epoch (metrics line, progress) and starts the next epoch's totals. */
  private async endEpoch(
    epoch: number,
    seconds: number,
    metrics: Metrics,
    progress: Progress | null,
  ): Promise<EpochSummary> {
    const test = await evaluateClean(this.model, this.data.test, Math.max(this.config.batch, 256));
    const summary = epochSummary(epoch + 1, this.epoch, test, seconds);
    metrics.emit('epoch', this.step, epochFields(summary, test.examples));
    progress?.log(epochLine(summary, this.config.epochs, test.examples, evaluationSplit(this.config)));
    this.epoch = noEpochTotals();
    return summary;
  }

  /** Where a batch came from: its example indices and the crop and flip of each example. */
  private batchInfo(b: Batch): BatchInfo {
    const a = this.loader.augmentation(b);
    return { indices: b.indices, epoch: b.epoch, augment: a ? { pad: a.pad, ...augmentChoices(a, b.count) } : null };
  }

  /** The method's reuse probes every `every` minibatches; after the run's last SGD step they step with the last rate. */
  private probeSchedule(every: number, metrics: Metrics): ProbeSchedule {
    const lr = () => lrAt(this.schedule, Math.min(this.iteration, this.totalIterations - 1), this.totalIterations);
    this.probes = new ProbeRunner(this.model, this.opt, this.resolved, this.method, this.threat, lr);
    return new ProbeSchedule(this.probes, this.data.train, this.config.batch, every, metrics, this.config.seed);
  }

  /** The method's end-of-epoch check, on the held batch. */
  private async epochEnd(): Promise<{ stop: boolean; note: string } | null> {
    if (!this.method.epochEnd) return null;
    const { x, y } = heldBatch(this.data.train, this.config.batch);
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
