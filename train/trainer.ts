// The training loop: epochs of minibatches from a seeded loader, augmented on the GPU, handed to a training
// method; learning rate per SGD iteration; progress on stderr; metrics as JSON lines; test accuracy after each
// epoch; checkpoints (weights + training state) every epoch and every few minutes, written atomically, from
// which `resume` continues to the same result as an uninterrupted run.
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { augmentChoices, memory, rt, tidy, type Tensor } from '../engine/index.js';
import { noPasses, type BatchInfo, type HostStateArray, type Method, type MethodConfig, type PassCounts, type TrainModel } from '../adversarial/method.js';
import { createMethod, resolveMethod, type ResolvedMethod } from '../adversarial/registry.js';
import { gitCommit, loadModel, saveModel } from '../nn/checkpoint.js';
import type { SplitData } from '../nn/data/cifar.js';
import { AUGMENT_PAD, Loader, uploadRange, type Batch } from '../nn/data/loader.js';
import { evaluateClean } from '../nn/evaluate.js';
import { Sgd } from '../nn/optim.js';
import { Progress } from '../nn/progress.js';
import { lrAt, parseSchedule, type Schedule } from '../nn/schedule.js';
import { archName, parseArch, WideResNet } from '../nn/wrn.js';
import { stepContext } from './context.js';
import { countedModel } from './model.js';
import { addPasses, PassMeter } from './passes.js';
import { loadTrainState, momentumTensors, restoreHostArrays, restoreTensors, saveTrainState, type TrainState } from './train-state.js';

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
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  decay: 'all' | 'weights';
  seed: number;
  augment: boolean;
  trainLimit: number | null;
  testLimit: number | null;
  /** The method's name and all its options, resolved (defaults filled in) and checked by its descriptor. */
  method: MethodConfig;
  /** Inputs are images in [0,1] fed as they are; recorded so a loader of the checkpoint knows. */
  normalization: 'none';
  checkpointMinutes: number;
  logEvery: number;
}

export interface Datasets {
  train: SplitData;
  test: SplitData;
}

export interface TrainOptions {
  out: string;
  /** Stop after this many minibatches in total (a checkpoint is written there); the schedule is unchanged. */
  maxSteps?: number;
  progress?: boolean;
  log?: (line: string) => void;
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

const packPasses = (p: PassCounts, prefix: string): Record<string, number> =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [prefix + k, v]));

function unpackPasses(c: Record<string, number>, prefix: string): PassCounts {
  const p = noPasses();
  for (const k of Object.keys(p) as (keyof PassCounts)[]) p[k] = c[prefix + k] ?? 0;
  return p;
}

const MODEL_FILE = 'model.safetensors';
const STATE_FILE = 'train-state.safetensors';
const METRICS_FILE = 'metrics.jsonl';

export class Trainer {
  readonly model: WideResNet;
  readonly loader: Loader;
  readonly method: Method;
  readonly resolved: ResolvedMethod;
  private readonly opt: Sgd;
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
  private epochStats = { lossSum: 0, correct: 0, seen: 0, seconds: 0, passes: noPasses() };

  constructor(
    readonly config: RunConfig,
    readonly data: Datasets,
  ) {
    this.resolved = resolveMethod(config.method);
    this.config = { ...config, method: this.resolved.config };
    this.schedule = parseSchedule(config.schedule, config.lr);
    this.model = new WideResNet(parseArch(config.model, config.classes), config.seed);
    this.params = this.model.namedParameters();
    this.opt = new Sgd(this.params, { momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay, decay: config.decay });
    this.loader = new Loader(data.train, { batchSize: config.batch, seed: config.seed, augment: config.augment });
    this.stepsPerEpoch = this.loader.batchesPerEpoch;
    this.meter = new PassMeter(this.params.map(([, p]) => p.tensor));
    this.counted = countedModel(this.model, this.meter);
    this.method = createMethod(this.resolved, { batchShape: [config.batch, 3, 32, 32], seed: config.seed, trainSize: data.train.count, classes: config.classes, augmentPad: config.augment ? AUGMENT_PAD : 0 });
    this.totalIterations = config.epochs * this.stepsPerEpoch * this.resolved.descriptor.cost(this.resolved.options as never).sgdSteps;
  }

  private get passes(): PassCounts {
    return this.meter.passes;
  }

  /** Restores weights, momenta, method state and position from a run folder written by `train`. */
  static async resume(dir: string, loadData: (c: RunConfig) => Promise<Datasets>): Promise<Trainer> {
    const saved = await loadTrainState(join(dir, STATE_FILE));
    const st = saved.state;
    const config = st.config as unknown as RunConfig;
    const t = new Trainer(config, await loadData(config));
    const meta = await loadModel(t.model, join(dir, MODEL_FILE));
    if (Number(meta.step) !== st.step) {
      throw new Error(`resume ${dir}: ${MODEL_FILE} is from step ${meta.step} but ${STATE_FILE} from step ${st.step}; the folder mixes two checkpoints`);
    }
    restoreTensors(saved, t.stateTensors());
    restoreHostArrays(saved, await t.hostArrays());
    const c = st.counters;
    t.step = st.step;
    t.iteration = c.iteration;
    Object.assign(t.meter.passes, unpackPasses(c, 'run.'));
    t.epochStats = { lossSum: c.lossSum, correct: c.correct, seen: c.seen, seconds: c.seconds, passes: unpackPasses(c, 'epoch.') };
    t.loader.seek(st.position);
    return t;
  }

  /** The live tensors of the training state besides the model: momenta and the method's carried tensors. */
  private stateTensors(): Record<string, Tensor> {
    const out = momentumTensors(this.opt);
    for (const [k, v] of Object.entries(this.method.state())) out[`method.${k}`] = v;
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

  /** Writes model.safetensors, then the training state (both atomically). */
  async checkpoint(dir: string): Promise<void> {
    await rt().sync();
    const { config } = this;
    await saveModel(this.model, join(dir, MODEL_FILE), {
      architecture: archName(parseArch(config.model, config.classes)),
      classes: String(config.classes),
      dataset: config.data,
      normalization: config.normalization,
      method: JSON.stringify(config.method),
      epoch: String(this.loader.position().epoch),
      step: String(this.step),
      commit: this.commit,
    });
    const e = this.epochStats;
    await saveTrainState(join(dir, STATE_FILE), {
      tensors: this.stateTensors(),
      host: await this.hostArrays(),
      state: {
        step: this.step,
        epoch: this.loader.position().epoch,
        position: this.loader.position(),
        rng: { seed: config.seed },
        config: config as unknown as TrainState['config'],
        counters: {
          iteration: this.iteration,
          lossSum: e.lossSum,
          correct: e.correct,
          seen: e.seen,
          seconds: e.seconds,
          ...packPasses(this.passes, 'run.'),
          ...packPasses(e.passes, 'epoch.'),
        },
      },
    });
  }

  async run(opts: TrainOptions): Promise<EpochSummary[]> {
    const { config } = this;
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    mkdirSync(opts.out, { recursive: true });
    const metrics = join(opts.out, METRICS_FILE);
    const emit = (o: object) => appendFileSync(metrics, `${JSON.stringify(o)}\n`);
    const progress = opts.progress === false ? null : new Progress({ epochs: config.epochs, stepsPerEpoch: this.stepsPerEpoch, intervalSteps: config.logEvery });
    const summaries: EpochSummary[] = [];
    let lastCheckpoint = performance.now();
    const startStep = this.step;
    let lastEmitted = this.step;
    let lastLr = Number.NaN;
    const t0 = performance.now();
    while (this.loader.position().epoch < config.epochs) {
      const epoch = this.loader.position().epoch;
      let epochStart = performance.now() - this.epochStats.seconds * 1000;
      let pending: { loss: Tensor; correct: Tensor; count: number }[] = [];
      // Results are read back in groups, so the GPU queue never drains while the host waits on one step.
      const drain = async () => {
        const values = await Promise.all(pending.map(async (p) => [await p.loss.item(), await p.correct.item(), p.count] as const));
        for (const p of pending) {
          p.loss.dispose();
          p.correct.dispose();
        }
        pending = [];
        for (const [loss, correct, count] of values) {
          this.epochStats.lossSum += loss * count;
          this.epochStats.correct += correct;
          this.epochStats.seen += count;
        }
      };
      let stopped = false;
      for await (const b of this.loader.epoch()) {
        const ctx = stepContext({
          model: this.counted,
          opt: this.opt,
          meter: this.meter,
          nextLr: () => {
            lastLr = this.lr();
            this.iteration++;
            return lastLr;
          },
          step: this.step,
          seed: config.seed,
          batch: this.batchInfo(b),
        });
        const before = { ...this.passes };
        const result = this.meter.measure(() => tidy(() => {
          const { images, labels } = this.loader.upload(b);
          return this.method.step(images, labels, ctx);
        }));
        addPasses(this.epochStats.passes, this.passes);
        addPasses(this.epochStats.passes, before, -1);
        pending.push({ ...result, count: b.count });
        this.step++;
        const inEpoch = b.batch + 1;
        if (pending.length >= 8 || inEpoch === this.stepsPerEpoch) {
          await drain();
          const s = this.epochStats;
          progress?.update({ epoch: epoch + 1, step: inEpoch, images: (this.step - startStep) * config.batch, loss: s.lossSum / s.seen, accuracy: s.correct / s.seen });
          if (this.step - lastEmitted >= config.logEvery) {
            lastEmitted = this.step;
            emit({ type: 'step', epoch: epoch + 1, step: this.step, iteration: this.iteration, lr: lastLr, train_loss: s.lossSum / s.seen, train_accuracy: s.correct / s.seen });
          }
        }
        const reachedMax = opts.maxSteps !== undefined && this.step >= opts.maxSteps;
        if (reachedMax || performance.now() - lastCheckpoint > config.checkpointMinutes * 60_000) {
          await drain();
          this.epochStats.seconds = (performance.now() - epochStart) / 1000;
          await this.checkpoint(opts.out);
          lastCheckpoint = performance.now();
        }
        if (reachedMax) {
          stopped = true;
          break;
        }
      }
      if (stopped) {
        progress?.log(`stopped after ${this.step} steps (--max-steps); resume with --resume ${opts.out}`);
        break;
      }
      await drain();
      const seconds = (performance.now() - epochStart) / 1000;
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
      summaries.push(summary);
      emit({
        type: 'epoch', epoch: summary.epoch, train_loss: summary.trainLoss, train_accuracy: summary.trainAccuracy,
        test_accuracy: summary.testAccuracy, test_examples: test.examples, seconds, images_per_second: summary.imagesPerSecond,
        passes: s.passes, gpu_bytes_in_use: memory().bytesInUse,
      });
      progress?.log(
        `epoch ${summary.epoch}/${config.epochs}: train loss ${summary.trainLoss.toFixed(4)} acc ${(summary.trainAccuracy * 100).toFixed(2)}%, ` +
          `test acc ${(summary.testAccuracy * 100).toFixed(2)}% (${test.examples} images), ${(seconds / 60).toFixed(1)} min, ${summary.imagesPerSecond.toFixed(1)} img/s`,
      );
      this.epochStats = { lossSum: 0, correct: 0, seen: 0, seconds: 0, passes: noPasses() };
      epochStart = performance.now();
      const verdict = await this.epochEnd();
      if (verdict) {
        emit({ type: 'guard', epoch: summary.epoch, stop: verdict.stop, note: verdict.note });
        progress?.log(verdict.note);
        if (verdict.stop) {
          progress?.log(`the checkpoint in ${opts.out} is from before this epoch`);
          break;
        }
      }
      await this.checkpoint(opts.out);
      lastCheckpoint = performance.now();
    }
    progress?.done();
    if (!progress) log(`trained ${this.step - startStep} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return summaries;
  }

  /** Where a batch came from: its example indices and the crop and flip of each example. */
  private batchInfo(b: Batch): BatchInfo {
    const a = this.loader.augmentation(b);
    return { indices: b.indices, epoch: b.epoch, augment: a ? { pad: a.pad, ...augmentChoices(a, b.count) } : null };
  }

  /** The method's end-of-epoch check, on the first training images without augmentation. */
  private async epochEnd(): Promise<{ stop: boolean; note: string } | null> {
    if (!this.method.epochEnd) return null;
    const { train } = this.data;
    const n = Math.min(this.config.batch, train.count);
    const { images: x, labels: y } = uploadRange(train, 0, n, 'held');
    try {
      return await this.method.epochEnd(this.counted, { x, y });
    } finally {
      x.dispose();
      y.dispose();
    }
  }

  dispose(): void {
    this.method.dispose();
    this.opt.dispose();
    this.model.dispose();
  }
}

export const runFiles = { model: MODEL_FILE, state: STATE_FILE, metrics: METRICS_FILE };
export const hasCheckpoint = (dir: string): boolean => existsSync(join(dir, STATE_FILE)) && existsSync(join(dir, MODEL_FILE));
