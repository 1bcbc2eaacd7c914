// Runs one planned training run and its evaluation, resumably: a finished run leaves result.json and is skipped;
// a stopped one continues from its run folder's checkpoint; a trained but unevaluated one is evaluated from its
// checkpoint. Each run trains in its own folder (OUT/runs/<id>/) with the trainer's own metrics and checkpoints,
// holding the folder's lock from start to result, so that two processes given one run (a retried or duplicated
// Slurm task) never write it at once: the second is refused.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { suiteStages, type ResolvedAttack } from '../adversarial/attack-registry.js';
import { evaluateRobust, inEvalMode, splitSource, type AttackTotals } from '../adversarial/evaluate.js';
import type { PassCounts } from '../adversarial/method.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { rt } from '../engine/index.js';
import { Trainer, type Datasets, type EpochSummary, type RunConfig } from '../train/trainer.js';
import { hasCheckpoint, RUN_FILES, RunFolder } from '../train/run-folder.js';
import { EXPERIMENT_SETTING, type Preset, type RunSpec } from './plan.js';

export interface RunResult {
  id: string;
  label: string;
  seed: number;
  comparisons: number[];
  method: RunConfig['method'];
  passes_over_data: number;
  train_passes: PassCounts;
  train_seconds: number;
  epochs: EpochSummary[];
  clean_accuracy: number;
  examples: number;
  attacks: { name: string; description: string; examples: number; accuracy: number }[];
  eval_seconds: number;
  /** The adapter that trained and evaluated it (absent in results written before it was recorded). */
  adapter?: string;
}

export function runConfig(p: Preset, r: RunSpec): RunConfig {
  return {
    data: p.data ?? 'cifar10', model: p.model, classes: 10, epochs: r.epochs, batch: p.batch, lr: p.lr, schedule: 'multistep', optimizer: 'sgd', momentum: 0.9,
    nesterov: false, weightDecay: 5e-4, decay: 'all', seed: r.seed, augment: true, trainLimit: p.trainLimit, testLimit: p.testImages,
    method: r.method.config, threat: EXPERIMENT_SETTING.threat, normalization: 'none', checkpointMinutes: 10, logEvery: 50,
  };
}

const RESULT = 'result.json';

/** A finished run's result, or null. */
export function finished(out: string, r: RunSpec): RunResult | null {
  const file = join(out, 'runs', r.id, RESULT);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RunResult) : null;
}

/**
 * Trains and evaluates run `r` into OUT/runs/<id>/ and writes its result.json. `stop` (a scheduler's SIGTERM):
 * training stops after the current minibatch with a checkpoint there, evaluation (which keeps no state) at its next
 * batch, and the signal's reason is thrown; a later call resumes from the checkpoint.
 */
export async function runOne(out: string, p: Preset, r: RunSpec, attacks: readonly ResolvedAttack[], data: Datasets, log: (l: string) => void, stop?: AbortSignal): Promise<RunResult> {
  const dir = join(out, 'runs', r.id);
  const folder = RunFolder.open(dir, 'lock', log);
  let trainer: Trainer | null = null;
  try {
    // Another process may have finished it since the caller looked.
    const done = finished(out, r);
    if (done) return done;
    stop?.throwIfAborted();
    const metrics = join(dir, RUN_FILES.metrics);
    // A run killed before its first checkpoint left only metrics lines: they are kept aside and the run starts over.
    if (!hasCheckpoint(dir) && existsSync(metrics)) renameSync(metrics, `${metrics}.stopped-${new Date().toISOString().replace(/[:.]/g, '')}`);
    const resume = hasCheckpoint(dir);
    folder.expect(resume ? 'resume' : 'new');
    trainer = resume ? await Trainer.resume(dir, async () => data) : new Trainer(runConfig(p, r), data);
    const t0 = performance.now();
    // A run trained to the end but not yet evaluated resumes with nothing left to train: its weights are loaded.
    if (trainer.loader.position().epoch < r.epochs) {
      log(`experiment: ${r.id}: ${r.epochs} passes over ${p.trainLimit} images${trainer.stepsDone ? `, resuming at step ${trainer.stepsDone}` : ''}`);
      await trainer.run({ out: folder, stop });
      stop?.throwIfAborted();
    }
    const epochs = readEpochs(dir);
    const trainSeconds = epochs.reduce((s, e) => s + e.seconds, 0) || (performance.now() - t0) / 1000;
    log(`experiment: ${r.id}: evaluating on ${data.test.count} test images`);
    const { classes } = EXPERIMENT_SETTING;
    const { threat } = trainer;
    const ev = await inEvalMode(trainer.model, (classify) => evaluateRobust(classify, splitSource(data.test), attacks,
      { threat, classes, batch: 200, seed: r.seed, progress: () => stop?.throwIfAborted() }));
    const res: RunResult = {
      id: r.id, label: r.label, seed: r.seed, comparisons: r.comparisons, method: trainer.config.method, passes_over_data: r.epochs,
      train_passes: trainer.totalPasses, train_seconds: trainSeconds, epochs, clean_accuracy: ev.cleanCorrect / ev.examples, examples: ev.examples,
      attacks: attackEntries(ev.attacks),
      eval_seconds: ev.seconds, adapter: rt().gpu.name,
    };
    await writeFileAtomic(join(dir, RESULT), `${JSON.stringify(res, null, 2)}\n`);
    log(`experiment: ${r.id}: clean ${(res.clean_accuracy * 100).toFixed(1)}%, ${res.attacks.map((a) => `${a.name} ${(a.accuracy * 100).toFixed(1)}%`).join(', ')}`);
    return res;
  } finally {
    trainer?.dispose();
    folder.release();
  }
}

/** The report's attack columns: a suite's stages in its place. */
export const attackColumns = (specs: readonly ResolvedAttack[]): string[] =>
  specs.flatMap((s) => (s.descriptor.stages ? suiteStages(s, EXPERIMENT_SETTING).map((st) => st.stage.descriptor.name) : [s.descriptor.name]));

/**
 * One entry per attack; a suite (aa-lite) gives one per stage, each the accuracy after it and every earlier stage
 * (its stages run on the examples the earlier ones left robust).
 */
export function attackEntries(attacks: readonly AttackTotals[]): RunResult['attacks'] {
  return attacks.flatMap((a) => {
    if (!a.stages) return [{ name: a.attack.descriptor.name, description: a.description, examples: a.examples, accuracy: a.correct / a.examples }];
    return a.stages.map((st, k) => ({
      name: st.name,
      description: k === 0 ? st.description : `${st.description} on the examples ${a.stages!.slice(0, k).map((s) => s.name.toUpperCase()).join(', ')} left robust`,
      examples: a.examples,
      accuracy: st.robust / a.examples,
    }));
  });
}

/** The per-epoch records of a run folder's metrics (the last record of each epoch, so a resumed epoch counts once). */
function readEpochs(dir: string): EpochSummary[] {
  const file = join(dir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  const byEpoch = new Map<number, EpochSummary>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.type !== 'epoch') continue;
    byEpoch.set(m.epoch, { epoch: m.epoch, trainLoss: m.train_loss, trainAccuracy: m.train_accuracy, testAccuracy: m.test_accuracy, seconds: m.seconds, imagesPerSecond: m.images_per_second, passes: m.passes });
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}
