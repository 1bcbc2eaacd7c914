// The training loop: epochs of minibatches from a seeded loader, augmented on the GPU, handed to a training
// method; learning rate per SGD iteration; progress on stderr; metrics as JSON lines (train/metrics.ts); test
// accuracy and the method's check after each epoch; checkpoints every epoch and every few minutes into the run
// folder (train/run-folder.ts), from which `resume` continues to the same result as an uninterrupted run. A loss
// or weight that becomes NaN or Inf stops the run before it is checkpointed (train/divergence.ts).
import { join, resolve } from 'node:path';
import { augmentChoices, tidy } from '../engine/index.js';
import { addPasses, type BatchInfo, type Method, type PassCounts, type TrainModel } from '../adversarial/method.js';
import { createMethod, resolveMethod, sgdStepsPerBatch, type ResolvedMethod } from '../adversarial/registry.js';
import { ThreatModel } from '../adversarial/threat.js';
import { gitCommit } from '../nn/checkpoint.js';
import { unitBox } from '../data/dataset.js';
import { AUGMENT_PAD, Loader, type Batch } from '../data/loader.js';
import { evaluateClean } from '../nn/evaluate.js';
import { createOptimizer, type Optimizer } from '../nn/optim.js';
import { lrAt, parseSchedule, type Schedule } from '../nn/schedule.js';
import type { Classifier, ResolvedModel } from '../nn/model.js';
import { resolveModel } from '../nn/registry.js';
import { announce, type Resumed } from './announce.js';
import { pairEntries, restorePair, savePair, type RunCounters, type TrainerParts } from './checkpoint-pair.js';
import { stepContext } from './context.js';
import { Diverged, divergenceError } from './divergence.js';
import { epochFields, epochLine, epochSummary, noEpochTotals, PendingSteps, type EpochSummary } from './epoch.js';
import { Metrics, newRunId } from './metrics.js';
import { countedModel } from './model.js';
import { PassMeter } from './passes.js';
import { methodCheck, ProbeRunner, ProbeSchedule } from './probes.js';
import { Progress } from './progress.js';
import {
  evaluationSplit,
  resumedConfig,
  savedRunConfig,
  type Datasets,
  type ResumeChanges,
  type RunConfig,
  type TrainOptions,
} from './run-config.js';
import { latestPair, RUN_FILES, RunFolder } from './run-folder.js';
import { loadTrainState } from './train-state.js';

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
  /** Steps and optimizer iterations taken, and the epoch's sums: what a checkpoint pair restores. */
  private at: RunCounters = { step: 0, iteration: 0, epoch: noEpochTotals() };
  private lastLr = Number.NaN;
  /** Steps whose loss and accuracy are not read back yet. */
  private readonly pending = new PendingSteps();
  /** Where this trainer was resumed from, and the settings changed on resume; null for a new run. */
  private resumed: Resumed | null = null;
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
    // The config carries the optimizer's options (momentum, nesterov, weightDecay, decay).
    this.opt = createOptimizer(config.optimizer, params, config);
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
    t.at = await restorePair(pair, saved, t.parts);
    t.resumed = { dir, pair, changed };
    return t;
  }

  get stepsDone(): number {
    return this.at.step;
  }

  get totalPasses(): PassCounts {
    return { ...this.meter.passes };
  }

  private get parts(): TrainerParts {
    return { model: this.model, opt: this.opt, method: this.method, meter: this.meter, loader: this.loader };
  }

  /** Commits the checkpoint pair of the current step to the run folder (never one holding NaN or Inf). */
  private async checkpoint(folder: RunFolder): Promise<void> {
    const { config, data, architecture, runId, commit } = this;
    await savePair(folder, this.parts, this.at, { config, data, architecture, runId, commit });
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
      throw divergenceError(e, this.at.step, await pairEntries(this.parts), folder, this.runId);
    } finally {
      if (own) folder.release();
    }
  }

  private async loop(folder: RunFolder, opts: TrainOptions, log: (line: string) => void): Promise<EpochSummary[]> {
    const { config, at } = this;
    const { maxSteps } = opts;
    if (maxSteps !== undefined && maxSteps < at.step) {
      throw new Error(
        `--max-steps ${maxSteps} is below step ${at.step}, where the run in ${folder.dir} already is; give --max-steps ${at.step} or more`,
      );
    }
    const metrics = new Metrics(folder.metricsFile, this.runId, log);
    this.announce(metrics, folder, opts.context ?? {}, log);
    const progress =
      opts.progress === false
        ? null
        : new Progress({ epochs: config.epochs, stepsPerEpoch: this.stepsPerEpoch, intervalSteps: config.logEvery });
    const summaries: EpochSummary[] = [];
    const reachedMax = () => (maxSteps !== undefined && at.step >= maxSteps) || !!opts.stop?.aborted;
    let lastCheckpoint = performance.now();
    const checkpoint = async () => {
      await this.checkpoint(folder);
      lastCheckpoint = performance.now();
    };
    const startStep = at.step;
    const t0 = performance.now();
    const probe = opts.probe ? this.probeSchedule(opts.probe.every, metrics) : null;
    let stopped = reachedMax();
    while (!stopped && this.loader.position().epoch < config.epochs) {
      const epoch = this.loader.position().epoch;
      const epochStart = performance.now() - at.epoch.seconds * 1000;
      for await (const b of this.loader.epoch()) {
        this.trainStep(b);
        const where = { epoch: epoch + 1, iteration: at.iteration };
        await probe?.after(at.step, { ...where, epoch_progress: at.step / this.stepsPerEpoch });
        const inEpoch = b.batch + 1;
        const last = inEpoch === this.stepsPerEpoch;
        const logNow = at.step % config.logEvery === 0;
        if (this.pending.full || last || logNow) {
          await this.pending.drain(at.epoch);
          const { lossSum, correct, seen } = at.epoch;
          const [loss, accuracy] = [lossSum / seen, correct / seen];
          progress?.update({
            epoch: epoch + 1,
            step: inEpoch,
            images: (at.step - startStep) * config.batch,
            loss,
            accuracy,
          });
          if (logNow)
            metrics.emit('step', at.step, { ...where, lr: this.lastLr, train_loss: loss, train_accuracy: accuracy });
        }
        // The epoch's last batch is checkpointed after the epoch's evaluation and check, below.
        if (last) break;
        if (reachedMax() || performance.now() - lastCheckpoint > config.checkpointMinutes * 60_000) {
          await this.pending.drain(at.epoch);
          at.epoch.seconds = (performance.now() - epochStart) / 1000;
          await checkpoint();
        }
        if ((stopped = reachedMax())) break;
      }
      if (stopped) break;
      summaries.push(await this.endEpoch(epoch, (performance.now() - epochStart) / 1000, metrics, progress));
      const verdict = await methodCheck(this.method, this.counted, this.data.train, config.batch);
      if (verdict) {
        metrics.emit('guard', at.step, { epoch: epoch + 1, stop: verdict.stop, note: verdict.note });
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
    const why = opts.stop?.aborted ? 'asked to stop' : '--max-steps';
    if (stopped) progress?.log(`stopped after ${at.step} steps (${why}); resume with --resume ${folder.dir}`);
    progress?.done();
    if (!progress) log(`trained ${at.step - startStep} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return summaries;
  }

  /** The run's first metrics line ('start', or 'resume' with the settings changed), once per trainer. */
  private announce(metrics: Metrics, folder: RunFolder, context: Record<string, unknown>, log: (l: string) => void) {
    if (this.announced) return;
    this.announced = true;
    const { config, commit, resumed, schedule, at } = this;
    const iterationsPerEpoch = this.stepsPerEpoch * sgdStepsPerBatch(this.resolved);
    const start = { config, commit, step: at.step, iteration: at.iteration, iterationsPerEpoch, schedule };
    announce(metrics, folder.dir, { ...start, resumed, context }, log);
  }

  /** One minibatch through the method; its loss and accuracy join the pending readbacks. */
  private trainStep(b: Batch): void {
    const { at } = this;
    const ctx = stepContext({
      model: this.counted,
      opt: this.opt,
      meter: this.meter,
      nextLr: () => {
        this.lastLr = lrAt(this.schedule, at.iteration, this.totalIterations);
        at.iteration++;
        return this.lastLr;
      },
      step: at.step,
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
    addPasses(at.epoch.passes, this.meter.passes);
    addPasses(at.epoch.passes, before, -1);
    at.step++;
    this.pending.push(result, b.count, at.step);
  }

  /** Evaluates on the test set, records the epoch (metrics line, progress) and starts the next epoch's totals. */
  private async endEpoch(
    epoch: number,
    seconds: number,
    metrics: Metrics,
    progress: Progress | null,
  ): Promise<EpochSummary> {
    const test = await evaluateClean(this.model, this.data.test, Math.max(this.config.batch, 256));
    const summary = epochSummary(epoch + 1, this.at.epoch, test, seconds);
    metrics.emit('epoch', this.at.step, epochFields(summary, test.examples));
    progress?.log(epochLine(summary, this.config.epochs, test.examples, evaluationSplit(this.config)));
    this.at.epoch = noEpochTotals();
    return summary;
  }

  /** Where a batch came from: its example indices and the crop and flip of each example. */
  private batchInfo(b: Batch): BatchInfo {
    const a = this.loader.augmentation(b);
    return { indices: b.indices, epoch: b.epoch, augment: a ? { pad: a.pad, ...augmentChoices(a, b.count) } : null };
  }

  /** The method's reuse probes every `every` minibatches; after the run's last SGD step they step with the last rate. */
  private probeSchedule(every: number, metrics: Metrics): ProbeSchedule {
    const lr = () => lrAt(this.schedule, Math.min(this.at.iteration, this.totalIterations - 1), this.totalIterations);
    this.probes = new ProbeRunner(this.model, this.opt, this.resolved, this.method, this.threat, lr);
    return new ProbeSchedule(this.probes, this.data.train, this.config.batch, every, metrics, this.config.seed);
  }

  dispose(): void {
    this.method.dispose?.();
    this.threat.dispose();
    this.opt.dispose();
    this.model.dispose();
  }
}
