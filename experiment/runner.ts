// Runs one planned training run and its evaluation, resumably: a finished run leaves result.json and is skipped;
// a stopped one continues from its run folder's checkpoint; a trained but unevaluated one is evaluated from its
// checkpoint. Each run trains in its own folder (OUT/runs/<id>/) with the trainer's own metrics and checkpoints,
// holding the folder's lock from start to result, so that two processes given one run (a retried or duplicated
// Slurm task) never write it at once: the second is refused.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { attackTitle, suiteStages, type ResolvedAttack } from '../adversarial/attack-registry.js';
import { evaluateRobust, inEvalMode, splitSource, type AttackTotals } from '../adversarial/evaluate.js';
import { ThreatModel } from '../adversarial/threat.js';
import { findDataset, limitSplit } from '../data/index.js';
import type { PassCounts } from '../adversarial/method.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { rt } from '../engine/index.js';
import { Trainer } from '../train/trainer.js';
import type { EpochSummary } from '../train/epoch.js';
import type { Datasets, RunConfig } from '../train/run-config.js';
import { asidePath } from '../data/aside.js';
import { readMetricsFile } from '../train/metrics.js';
import { hasCheckpoint, RUN_FILES, RunFolder } from '../train/run-folder.js';
import { experimentSetting, trainThreat, type PlannedAttack, type Preset, type RunSpec } from './plan.js';
import type { AttackColumn } from './report.js';

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
  /** Two-class datasets: the rarer class's recall on the whole test split, and under each attack on its examples. */
  minority?: {
    class: string;
    examples: number;
    recall: number;
    attacks: { name: string; examples: number; recall: number }[];
  };
}

/** A run's configuration: the preset's recipe (CIFAR's SGD, multistep, weight decay 5e-4 unless it says otherwise). */
export function runConfig(p: Preset, r: RunSpec): RunConfig {
  const d = findDataset(p.data ?? 'cifar10');
  return {
    data: d.name,
    model: p.model,
    classes: d.classes.length,
    epochs: r.epochs,
    batch: p.batch,
    lr: p.lr,
    schedule: p.schedule ?? 'multistep',
    optimizer: p.optimizer ?? 'sgd',
    momentum: 0.9,
    nesterov: false,
    weightDecay: p.weightDecay ?? 5e-4,
    decay: 'all',
    seed: r.seed,
    augment: d.augment !== null,
    trainLimit: p.trainLimit,
    testLimit: p.testImages,
    method: r.method.config,
    threat: trainThreat(p),
    normalization: 'none',
    checkpointMinutes: 10,
    logEvery: 50,
  };
}

/** A finished run's result, or null. */
export function finished(out: string, r: RunSpec): RunResult | null {
  const file = join(out, 'runs', r.id, RUN_FILES.result);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RunResult) : null;
}

/**
 * Trains and evaluates run `r` into OUT/runs/<id>/ and writes its result.json. `stop` (a scheduler's SIGTERM):
 * training stops after the current minibatch with a checkpoint there, evaluation (which keeps no state) at its next
 * batch, and the signal's reason is thrown; a later call resumes from the checkpoint.
 */
export async function runOne(
  out: string,
  p: Preset,
  r: RunSpec,
  attacks: readonly PlannedAttack[],
  data: Datasets,
  log: (l: string) => void,
  stop?: AbortSignal,
): Promise<RunResult> {
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
    if (!hasCheckpoint(dir) && existsSync(metrics)) renameSync(metrics, asidePath(metrics, 'stopped'));
    const resume = hasCheckpoint(dir);
    folder.expect(resume ? 'resume' : 'new', log);
    trainer = resume ? await Trainer.resume(dir, async () => data) : new Trainer(runConfig(p, r), data);
    const t0 = performance.now();
    // A run trained to the end but not yet evaluated resumes with nothing left to train: its weights are loaded.
    if (trainer.loader.position().epoch < r.epochs) {
      log(
        `experiment: ${r.id}: ${r.epochs} passes over ${data.train.count} examples${trainer.stepsDone ? `, resuming at step ${trainer.stepsDone}` : ''}`,
      );
      await trainer.run({ out: folder, stop, log });
      stop?.throwIfAborted();
    }
    const epochs = readEpochs(dir, log);
    const trainSeconds = epochs.reduce((s, e) => s + e.seconds, 0) || (performance.now() - t0) / 1000;
    log(`experiment: ${r.id}: evaluating on ${data.test.count} test examples`);
    const ev = await evaluateRun(trainer, p, r, attacks, data, stop);
    const res: RunResult = {
      id: r.id,
      label: r.label,
      seed: r.seed,
      comparisons: r.comparisons,
      method: trainer.config.method,
      passes_over_data: r.epochs,
      train_passes: trainer.totalPasses,
      train_seconds: trainSeconds,
      epochs,
      ...ev,
      adapter: rt().gpu.name,
    };
    await writeFileAtomic(join(dir, RUN_FILES.result), `${JSON.stringify(res, null, 2)}\n`);
    log(
      `experiment: ${r.id}: clean ${(res.clean_accuracy * 100).toFixed(1)}%, ${res.attacks.map((a) => `${a.name} ${(a.accuracy * 100).toFixed(1)}%`).join(', ')}`,
    );
    return res;
  } finally {
    trainer?.dispose();
    folder.release();
  }
}

/**
 * Clean accuracy on the test examples, then each planned attack (of this run's seed) on the first `limit` of them;
 * attacks with the same limit run in one pass over the examples. Two-class data: the rarer class's recall too.
 */
async function evaluateRun(
  trainer: Trainer,
  p: Preset,
  r: RunSpec,
  attacks: readonly PlannedAttack[],
  data: Datasets,
  stop?: AbortSignal,
) {
  const { classes, threat: spec } = experimentSetting(p);
  // Under the preset's threat model, whatever radius the model trained at (trainEps); the same box and mask.
  const threat = new ThreatModel(spec, trainer.threat.domain);
  const o = { threat, classes, batch: 200, seed: r.seed, progress: () => stop?.throwIfAborted() };
  const t0 = performance.now();
  const mine = attacks.filter((a) => !a.seeds || a.seeds.includes(r.seed));
  const limits = [...new Set(mine.map((a) => a.limit))];
  const y = data.test.y;
  const counts = Array.from({ length: classes }, (_, k) => y.filter((v) => v === k).length);
  const rare = classes === 2 ? counts.indexOf(Math.min(...counts)) : -1;
  const recall = (ok: Uint8Array, n: number) => {
    let hit = 0;
    let all = 0;
    for (let i = 0; i < n; i++) if (y[i] === rare) (all++, (hit += ok[i]));
    return { examples: all, recall: all ? hit / all : 0 };
  };
  try {
    return await inEvalMode(trainer.model, async (classify) => {
      const clean = await evaluateRobust(classify, splitSource(data.test), [], o);
      const entries: RunResult['attacks'] = [];
      const rareAttacks: NonNullable<RunResult['minority']>['attacks'] = [];
      for (const limit of limits) {
        const group = mine.filter((a) => a.limit === limit);
        const ev = await evaluateRobust(
          classify,
          splitSource(limitSplit(data.test, limit ?? undefined)),
          group.map((a) => a.attack),
          o,
        );
        entries.push(...attackEntries(ev.attacks));
        if (rare >= 0)
          ev.attacks.forEach((a, i) =>
            rareAttacks.push({
              name: a.attack.descriptor.name,
              ...recall(
                ev.correct.perAttack[i].map((v, k) => v & ev.correct.clean[k]),
                ev.examples,
              ),
            }),
          );
      }
      const minority =
        rare >= 0
          ? {
              class: findDataset(p.data ?? 'cifar10').classes[rare],
              ...recall(clean.correct.clean, clean.examples),
              attacks: rareAttacks,
            }
          : undefined;
      return {
        clean_accuracy: clean.cleanCorrect / clean.examples,
        examples: clean.examples,
        attacks: entries,
        eval_seconds: (performance.now() - t0) / 1000,
        ...(minority ? { minority } : {}),
      };
    });
  } finally {
    threat.dispose();
  }
}

/** The report's attack columns, a suite's stages in its place: PGD-50x10, APGD-CE, ..., with the examples each covers. */
export function attackColumns(p: Preset, planned: readonly PlannedAttack[]): AttackColumn[] {
  const setting = experimentSetting(p);
  const column = (r: ResolvedAttack, limit: number | null): AttackColumn => {
    const title = attackTitle(r, setting);
    return { name: r.descriptor.name, title: limit === null ? title : `${title} (first ${limit})` };
  };
  return planned.flatMap(({ attack: s, limit }) =>
    s.descriptor.stages
      ? suiteStages(s, setting)
          .filter((st) => !st.skipped)
          .map((st) => column(st.stage, limit))
      : [column(s, limit)],
  );
}

/**
 * One entry per attack; a suite (aa-lite) gives one per stage, each the accuracy after it and every earlier stage
 * (its stages run on the examples the earlier ones left robust).
 */
export function attackEntries(attacks: readonly AttackTotals[]): RunResult['attacks'] {
  return attacks.flatMap((a) => {
    if (!a.stages)
      return [
        {
          name: a.attack.descriptor.name,
          description: a.description,
          examples: a.examples,
          accuracy: a.correct / a.examples,
        },
      ];
    return a.stages.map((st, k) => ({
      name: st.name,
      description:
        k === 0
          ? st.description
          : `${st.description} on the examples ${a
              .stages!.slice(0, k)
              .map((s) => s.name.toUpperCase())
              .join(', ')} left robust`,
      examples: a.examples,
      accuracy: st.robust / a.examples,
    }));
  });
}

/** The per-epoch records of a run folder's metrics (the last record of each epoch, so a resumed epoch counts once). */
function readEpochs(dir: string, warn: (line: string) => void): EpochSummary[] {
  const file = join(dir, RUN_FILES.metrics);
  if (!existsSync(file)) return [];
  const byEpoch = new Map<number, EpochSummary>();
  for (const m of readMetricsFile(file, (w) => warn(`experiment: warning: ${w}`)) as Record<string, never>[]) {
    if (m.type !== 'epoch') continue;
    byEpoch.set(m.epoch, {
      epoch: m.epoch,
      trainLoss: m.train_loss,
      trainAccuracy: m.train_accuracy,
      testAccuracy: m.test_accuracy,
      seconds: m.seconds,
      imagesPerSecond: m.images_per_second,
      passes: m.passes,
    });
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}
