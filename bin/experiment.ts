// `advfree experiment`: the paper's claim on this machine. Natural, free-m, K-PGD and the later cheap methods train
// the same model on the same data with the same augmentation, optimizer and schedule, in two comparisons (equal
// epochs as the paper; equal cost), with seeds; every model gets the same evaluation on the same test images.
// Every run has its own resumable folder under OUT/runs/, so a rerun continues where the last one stopped. The
// runs train one after the other here (--executor local), or as a Slurm array job (--executor slurm), one task
// per run, and a job that writes the report; --status and --report read the folder from any machine sharing it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { init, shutdown } from '../engine/index.js';
import { ATTACKS } from '../adversarial/attack-registry.js';
import { METHODS, shortPattern } from '../adversarial/registry.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { gitCommit } from '../nn/checkpoint.js';
import { checkModelName, MODEL_PATTERNS } from '../nn/registry.js';
import { attacks, plan, PRESETS, type Preset, type RunSpec } from '../experiment/plan.js';
import { PLAN_FILE, folderPlan, heldPlan, planText, readPlanFile } from '../experiment/plan-file.js';
import { exportRuns, planExport } from '../experiment/export.js';
import { finished, runConfig, runOne, type RunResult } from '../experiment/runner.js';
import { submissions, submit, splitArgs } from '../experiment/slurm.js';
import { runStatus, statusText } from '../experiment/status.js';
import {
  checkedBy,
  CliError,
  command,
  flagText,
  givenFlags,
  intFlag,
  oneOf,
  type FlagSet,
  type Values,
} from './args.js';
import { REPORT_FILES, resultAdapters, writeReport, type ReportContext } from './experiment-report.js';
import { checkOutputFolder } from './files.js';
import { checkBatchFits } from './train.js';
import { runData, runTask } from './experiment-task.js';

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const EXPERIMENT_FLAGS = {
  preset: {
    type: 'string',
    help: Object.entries(PRESETS)
      .map(([name, p]) => `${name} (${p.summary})`)
      .join(', '),
    default: 'medium',
    parse: oneOf('preset', Object.keys(PRESETS)),
  },
  methods: {
    type: 'string',
    help: `the equal-cost comparison's methods, by short form: ${METHODS.map(shortPattern).join(', ')}`,
    parse: list,
  },
  epochs: {
    type: 'string',
    help: 'natural-equivalent epochs (comparison 1) = the budget of full passes per image (comparison 2)',
    parse: intFlag('epochs', 1, 10_000),
  },
  model: { type: 'string', help: MODEL_PATTERNS, parse: checkedBy(checkModelName) },
  'train-limit': { type: 'string', help: 'first N training images', parse: intFlag('train-limit', 1) },
  batch: { type: 'string', help: 'minibatch size', parse: intFlag('batch', 2, 4096) },
  'test-images': {
    type: 'string',
    help: 'evaluate every model on the first N test images',
    parse: intFlag('test-images', 1),
  },
  'apgd-steps': {
    type: 'string',
    help: 'APGD iterations (0: no APGD, PGD-20 only)',
    parse: intFlag('apgd-steps', 0, 10_000),
  },
  seeds: {
    type: 'string',
    help: 'comma-separated seeds of the seeded methods; seeds after those of the experiment --out holds grow it (its runs stay)',
    parse: (v: string) => {
      if (!list(v).every((s) => /^\d+$/.test(s))) throw new CliError(`--seeds takes integers like 0,1,2, got '${v}'`);
      return list(v).map(Number);
    },
  },
  out: {
    type: 'string',
    help: 'experiment folder (runs/<id>/ per run, experiment.md, experiment.json, charts as PNG, SVG and Vega-Lite spec); a rerun continues it (given alone, with the settings it holds)',
    default: 'runs/experiment',
  },
  'data-dir': { type: 'string', help: 'dataset cache folder (with --executor slurm: on storage every node shares)' },
  executor: {
    type: 'string',
    help: 'local: the runs one after the other in this process; slurm: one sbatch array task per run and a job that writes the report',
    default: 'local',
    parse: oneOf('executor', ['local', 'slurm']),
  },
  sbatch: {
    type: 'string',
    help: 'sbatch options of the array job, e.g. --sbatch="--partition=gpu --gres=gpu:1 --time=4:00:00 --requeue" (docs/cluster.md)',
  },
  'sbatch-report': {
    type: 'string',
    help: 'sbatch options of the report job (no GPU needed), e.g. --sbatch-report="--partition=cpu --time=10"',
  },
  status: {
    type: 'boolean',
    help: 'each run of --out: done, running (who holds it), stopped or not started; then exit',
  },
  report: {
    type: 'boolean',
    help: "write --out's report from the runs done so far (marked partial while any is to do); then exit",
  },
  export: {
    type: 'string',
    help: "copy --out's finished runs (each one's result.json and metrics.jsonl, no checkpoints or weights), its plan and its report to this folder, small enough to commit; it is an experiment folder the runner continues; then exit",
  },
  force: {
    type: 'boolean',
    help: "let --export replace a run the folder holds with other results (never a run's own files)",
  },
  task: {
    type: 'string',
    help: 'run one run of --out by its id (what each Slurm array task runs); with --preset, writes its plan to --out first (refused where --out holds another experiment)',
  },
} satisfies FlagSet;

type ExperimentFlags = Values<typeof EXPERIMENT_FLAGS>;

function preset(flags: ExperimentFlags): Preset {
  const { summary: _, ...p } = PRESETS[flags.preset];
  if (flags.model) p.model = flags.model;
  if (flags['train-limit']) p.trainLimit = flags['train-limit'];
  if (flags.epochs) p.epochs = flags.epochs;
  if (flags.batch) p.batch = flags.batch;
  if (flags['test-images']) p.testImages = flags['test-images'];
  if (flags.methods) p.equalCost = flags.methods;
  if (flags.seeds) p.seeds = flags.seeds;
  if (flags['apgd-steps']) p.apgdSteps = flags['apgd-steps'];
  return p;
}

export const experiment = command({
  name: 'experiment',
  summary: 'natural vs free-m vs K-PGD and the later cheap methods: equal epochs and equal cost, seeds, one evaluation',
  flags: EXPERIMENT_FLAGS,
  async run(flags) {
    const out = flags.out;
    if (flags.force && flags.export === undefined)
      throw new CliError('experiment: --force goes with --export (it lets --export replace a run with other results)');
    if (flags.status) return status(out);
    if (flags.report) return report(out);
    if (flags.export !== undefined) return exportTo(out, flags.export, flags.force === true);
    // --task alone runs one run of the plan in --out; with settings (--preset, ...) it writes that plan first.
    if (flags.task && !settingsGiven(flags)) return runTask(out, flags.task, flags);
    const { name, settings: p } = settingsOf(flags);
    const { runs, skipped } = plan(p);
    if (!runs.length) throw new CliError('experiment: no run to do (no registered method in the lists)');
    // A folder holds one experiment: resuming it with other settings would mix two.
    const planFile = join(out, PLAN_FILE);
    const text = planText(name, p);
    const held = heldPlan(out, name, p);
    if (held === 'other') {
      throw new CliError(
        `experiment: ${out} holds an experiment with other settings (${planFile}); pick another --out, or rerun with its settings (or --out alone) to continue it, or with more seeds after its own`,
      );
    }
    if (held === 'grown') console.error(grownLine(out, p.seeds));
    // Reports are rewritten only in the folder of this experiment (its plan.json); anything else there is left alone.
    checkOutputFolder('experiment', '--out', out, {
      files: REPORT_FILES,
      force: held !== 'none',
      fix: `no experiment wrote ${out} (it has no ${PLAN_FILE}): choose another --out`,
    });
    mkdirSync(out, { recursive: true });
    if (held === 'none' || readFileSync(planFile, 'utf8') !== text) await writeFileAtomic(planFile, text);
    if (flags.task) return runTask(out, flags.task, flags);
    if (flags.executor === 'slurm') return submitArray(out, name, runs, flags);
    const r = await init({ backend: flags.backend, adapter: flags.adapter });
    checkBatchFits(runConfig(p, runs[0]), false);
    const log = (l: string) => console.error(l);
    log(`experiment: ${runs.length} runs (${runs.map((x) => x.id).join(', ')}) in ${out}`);
    const t0 = performance.now();
    // The commit of the code that runs, taken once: the checkout may move on while a long preset trains.
    const context: ReportContext = {
      out,
      preset: name,
      settings: p,
      runs,
      skipped,
      specs: attacks(
        p,
        ATTACKS.map((a) => a.name),
      ),
      commit: gitCommit(),
      adapter: r.gpu.name,
      closing: '',
    };
    const results: RunResult[] = [];
    // The report is rewritten after every run, so a preset stopped part-way leaves the table of what has run.
    const write = () =>
      writeReport(
        { ...context, closing: `This invocation took ${((performance.now() - t0) / 60000).toFixed(1)} min.` },
        results,
      );
    let data = null;
    for (const run of runs) {
      const done = finished(out, run);
      if (done) {
        log(`experiment: ${run.id} already done`);
        results.push(done);
        continue;
      }
      data ??= await runData(runConfig(p, run), flags);
      results.push(await runOne(out, p, run, context.specs, data, log));
      await write();
    }
    console.log(await write());
    shutdown();
    return 0;
  },
});

/** The settings flags: any of them given names a new experiment; none, with --out holding one, continues it. */
const SETTINGS = ['preset', 'methods', 'epochs', 'model', 'train-limit', 'batch', 'test-images', 'apgd-steps', 'seeds'];

const settingsGiven = (flags: ExperimentFlags): boolean => {
  const given = givenFlags(flags);
  return SETTINGS.some((f) => given.has(f));
};

const grownLine = (where: string, seeds: number[]): string =>
  `experiment: ${where}: the plan grows to seeds ${seeds.join(', ')}; the runs it holds stay`;

function settingsOf(flags: ExperimentFlags): { name: string; settings: Preset } {
  const held = readPlanFile(flags.out);
  if (held && !settingsGiven(flags)) return { name: held.preset, settings: held.settings };
  return { name: flags.preset, settings: preset(flags) };
}

async function submitArray(out: string, name: string, runs: RunSpec[], flags: ExperimentFlags): Promise<number> {
  const todo = runs.flatMap((r, i) => (finished(out, r) ? [] : [i]));
  if (!todo.length) {
    console.log(`experiment: all ${runs.length} runs of ${out} are done; nothing submitted`);
    return report(out);
  }
  const pass = (f: string, v = flagText(flags, f)) => (v ? [`--${f}`, v] : []);
  const dataDir = flags['data-dir'];
  const s = await submit({
    advfree: [process.execPath, resolve(process.argv[1])],
    out: resolve(out),
    preset: name,
    runs,
    todo,
    taskFlags: [...pass('data-dir', dataDir && resolve(dataDir)), ...pass('backend'), ...pass('adapter')],
    sbatch: splitArgs(flags.sbatch ?? ''),
    sbatchReport: splitArgs(flags['sbatch-report'] ?? ''),
  });
  const ids = todo.map((i) => runs[i].id);
  console.log(
    [
      `experiment: ${runs.length} runs in ${out}, ${todo.length} to do: ${ids.join(', ')}`,
      `submitted array job ${s.array} (tasks ${todo.join(',')}, one per run; logs ${join(out, 'slurm', `${s.array}_<task>.out`)})`,
      `and report job ${s.report}, which writes ${join(out, 'experiment.md')} once the array has ended (afterany)`,
      `progress: advfree experiment --out ${out} --status    queue: squeue -j ${s.array},${s.report}`,
    ].join('\n'),
  );
  return 0;
}

function status(out: string): number {
  const { runs } = folderPlan(out);
  console.log(statusText(runs.map((r) => runStatus(out, r))));
  const last = submissions(out).at(-1);
  if (last)
    console.log(
      `last submission (${last.submitted}): array job ${last.array} (${last.runs.join(', ')}), report job ${last.report}; queue: squeue -j ${last.array},${last.report}`,
    );
  return 0;
}

async function report(
  out: string,
  source = 'Written from the run folders (advfree experiment --report)',
): Promise<number> {
  const { preset: name, settings, runs, skipped } = folderPlan(out);
  const results = runs.flatMap((r) => finished(out, r) ?? []);
  const minutes = (k: 'train_seconds' | 'eval_seconds') => (results.reduce((s, r) => s + r[k], 0) / 60).toFixed(1);
  const md = await writeReport(
    {
      out,
      preset: name,
      settings,
      runs,
      skipped,
      specs: attacks(
        settings,
        ATTACKS.map((a) => a.name),
      ),
      commit: gitCommit(),
      adapter: resultAdapters(results),
      closing: `${source}; the runs took ${minutes('train_seconds')} min of training and ${minutes('eval_seconds')} min of evaluation in all.`,
    },
    results,
  );
  console.log(md);
  return 0;
}

async function exportTo(out: string, dest: string, replace: boolean): Promise<number> {
  const { preset: name, settings, runs } = folderPlan(out);
  if (dest === '') throw new CliError('experiment: --export is empty; give a folder');
  if (resolve(dest) === resolve(out))
    throw new CliError(`experiment: --export ${dest} is --out itself; give another folder`);
  const text = planText(name, settings);
  const held = heldPlan(dest, name, settings);
  if (held === 'other')
    throw new CliError(
      `experiment: --export ${dest} holds another experiment (${join(dest, PLAN_FILE)}); choose another folder`,
    );
  if (held === 'none') {
    const fix = `choose another folder (--export updates only a folder holding the same ${PLAN_FILE})`;
    if (existsSync(join(dest, 'runs')))
      throw new CliError(`experiment: --export ${dest} already holds runs/ but no ${PLAN_FILE}; ${fix}`);
    checkOutputFolder('experiment', '--export', dest, { files: [PLAN_FILE, ...REPORT_FILES], force: false, fix });
  }
  const p = planExport(out, dest, runs, replace);
  if (p.refused.length) throw new CliError(`experiment: --export ${dest}: nothing written; ${p.refused.join('; ')}`);
  mkdirSync(dest, { recursive: true });
  if (held === 'grown') console.error(grownLine(`--export ${dest}`, settings.seeds));
  if (held !== 'same') await writeFileAtomic(join(dest, PLAN_FILE), text);
  await exportRuns(out, dest, p);
  const code = await report(dest, `Exported from ${out} (advfree experiment --export)`);
  const done = runs.filter((r) => finished(dest, r)).length;
  console.error(
    `experiment: exported ${out} to ${dest}: finished runs added ${p.added.length}, replaced ${p.replaced.length}, unchanged ${p.unchanged.length}; ${dest} holds ${done} of ${runs.length} runs`,
  );
  return code;
}
