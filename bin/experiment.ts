// `advfree experiment`: the paper's claim on this machine. Natural, free-m, K-PGD and the later cheap methods train
// the same model on the same data with the same augmentation, optimizer and schedule, in two comparisons (equal
// epochs as the paper; equal cost), with seeds; every model gets the same evaluation on the same test images.
// Every run has its own resumable folder under OUT/runs/, so a rerun continues where the last one stopped.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { init, shutdown } from '../engine/index.js';
import { ATTACKS, describeAttack } from '../adversarial/evaluate.js';
import { METHODS, shortPattern } from '../adversarial/registry.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { gitCommit } from '../nn/checkpoint.js';
import { defaultDataDir } from '../data/index.js';
import { parseArch } from '../nn/models/wrn.js';
import { attacks, plan, PRESETS, type Preset } from '../experiment/plan.js';
import { comparisonChart, markdown, rows } from '../experiment/report.js';
import { attackColumns, finished, runConfig, runOne, type RunResult } from '../experiment/runner.js';
import { CliError, intFlag, oneOf, parsedBy, type Command, type Flags } from './args.js';
import { loadData } from './train.js';
import { panelsOf, readMetrics } from './plot.js';
import { lineChartSpec } from '../plot/line-chart.js';
import { writeChart } from '../plot/render.js';

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

function preset(flags: Flags): Preset {
  const p = { ...PRESETS[flags.preset as string] };
  if (flags.model) p.model = flags.model as string;
  if (flags['train-limit']) p.trainLimit = Number(flags['train-limit']);
  if (flags.epochs) p.epochs = Number(flags.epochs);
  if (flags.batch) p.batch = Number(flags.batch);
  if (flags['test-images']) p.testImages = Number(flags['test-images']);
  if (flags.methods) p.equalCost = list(flags.methods as string);
  if (flags.seeds) p.seeds = list(flags.seeds as string).map(Number);
  if (flags['apgd-steps']) p.apgdSteps = Number(flags['apgd-steps']);
  return p;
}

export const experiment: Command = {
  name: 'experiment',
  summary: 'natural vs free-m vs K-PGD and the later cheap methods: equal epochs and equal cost, seeds, one evaluation',
  flags: {
    preset: { type: 'string', help: "quick (npm start: natural vs free-4, ~10 min), small (~1 h), medium (both comparisons, 3 seeds; see README), paper (WRN-34-10, real GPU)", default: 'medium', check: oneOf('preset', Object.keys(PRESETS)) },
    methods: { type: 'string', help: `the equal-cost comparison's methods, by short form: ${METHODS.map(shortPattern).join(', ')}` },
    epochs: { type: 'string', help: "natural-equivalent epochs (comparison 1) = the budget of full passes per image (comparison 2)", check: intFlag('epochs', 1, 10_000) },
    model: { type: 'string', help: 'wrn-DEPTH-WIDTH', check: parsedBy(parseArch) },
    'train-limit': { type: 'string', help: 'first N training images', check: intFlag('train-limit', 1) },
    batch: { type: 'string', help: 'minibatch size', check: intFlag('batch', 2, 4096) },
    'test-images': { type: 'string', help: 'evaluate every model on the first N test images', check: intFlag('test-images', 1) },
    'apgd-steps': { type: 'string', help: 'APGD iterations (0: no APGD, PGD-20 only)', check: intFlag('apgd-steps', 0, 10_000) },
    seeds: { type: 'string', help: 'comma-separated seeds of the seeded methods', check: (v) => { if (!list(v).every((s) => /^\d+$/.test(s))) throw new CliError(`--seeds takes integers like 0,1,2, got '${v}'`); } },
    out: { type: 'string', help: 'experiment folder (runs/<id>/ per run, experiment.md, experiment.json, charts as PNG, SVG and Vega-Lite spec); a rerun continues it', default: 'runs/experiment' },
    'data-dir': { type: 'string', help: 'dataset cache folder' },
  },
  async run(flags) {
    const p = preset(flags);
    const out = flags.out as string;
    const { runs, skipped } = plan(p);
    if (!runs.length) throw new CliError('experiment: no run to do (no registered method in the lists)');
    // A folder holds one experiment: resuming it with other settings would mix two.
    const planFile = join(out, 'plan.json');
    const planText = `${JSON.stringify({ preset: flags.preset, settings: p }, null, 2)}\n`;
    if (existsSync(planFile) && readFileSync(planFile, 'utf8') !== planText) {
      throw new CliError(`experiment: ${out} holds an experiment with other settings (${planFile}); pick another --out, or rerun with its settings to continue it`);
    }
    mkdirSync(out, { recursive: true });
    await writeFileAtomic(planFile, planText);
    const r = await init({ backend: flags.backend as string | undefined, adapter: flags.adapter as string | undefined });
    const specs = attacks(p, ATTACKS);
    const log = (l: string) => console.error(l);
    log(`experiment: ${runs.length} runs (${runs.map((x) => x.id).join(', ')}) in ${out}`);
    const t0 = performance.now();
    // The commit of the code that runs, taken once: the checkout may move on while a long preset trains.
    const commit = gitCommit();
    const results: RunResult[] = [];
    // The report is rewritten after every run, so a preset stopped part-way leaves the table of what has run.
    const report = async (): Promise<string> => {
      const all = rows(results);
      const names = attackColumns(specs);
      const pending = runs.filter((x) => !results.some((d) => d.id === x.id)).map((x) => x.id);
      const header = [
        `Experiment (preset ${flags.preset}) of ${new Date().toISOString().slice(0, 10)}, commit ${commit}, on ${r.gpu.name}.`,
        `${p.model}, the first ${p.trainLimit} CIFAR-10 training images, batch ${p.batch}, SGD momentum 0.9, lr ${p.lr} multistep (x0.1 at 50% and 75%), weight decay 5e-4, pad-4 crop + flip; eps 8/255;`,
        `${p.epochs} natural-equivalent epochs (comparison 1) = a budget of ${p.epochs} full forward passes per training image (comparison 2);`,
        `every model evaluated on the first ${p.testImages} test images, BN in eval mode: ${specs.map(describeAttack).join('; ')}${p.apgdChained ? ' (APGD-T runs on the examples APGD-CE left robust: its column is the worst case over both, as AutoAttack counts)' : ''}. This invocation took ${((performance.now() - t0) / 60000).toFixed(1)} min.`,
        ...(pending.length ? [`**Partial: ${results.length} of ${runs.length} runs done; still to run: ${pending.join(', ')}.**`] : []),
      ];
      const md = markdown(header, all, names, skipped);
      await writeFileAtomic(join(out, 'experiment.md'), md);
      await writeFileAtomic(join(out, 'experiment.json'), `${JSON.stringify({ header, settings: p, adapter: r.gpu.name, commit, pending, rows: all, runs: results }, null, 2)}\n`);
      for (const [c, name] of [[1, 'equal-epochs'], [2, 'equal-cost']] as const) {
        const title = [`advfree experiment ${flags.preset}: ${name}`, `${p.model}, ${p.trainLimit} train images, PGD-20 on ${p.testImages} test images`];
        const chart = comparisonChart(title, all, c);
        if (!chart) continue;
        await writeChart(join(out, `chart-${name}.png`), chart);
        // Per-epoch curves of the comparison's runs (the first seed of each method), on shared axes.
        const curves = runs.filter((x) => x.comparisons.includes(c) && x.seed === p.seeds[0] && results.some((d) => d.id === x.id));
        const panels = panelsOf(curves.map((x) => readMetrics(join(out, 'runs', x.id))));
        const curveTitle = [`advfree experiment ${flags.preset}: ${name}, per-epoch curves (seed ${p.seeds[0]})`, 'one colour per run'];
        const ids = curves.map((x) => x.id);
        if (panels.length) await writeChart(join(out, `curves-${name}.png`), lineChartSpec(curveTitle, 'natural-equivalent epochs', panels, ids));
      }
      return md;
    };
    let data = null;
    for (const run of runs) {
      const done = finished(out, run);
      if (done) {
        log(`experiment: ${run.id} already done`);
        results.push(done);
        continue;
      }
      data ??= await loadData(runConfig(p, run), (flags['data-dir'] as string | undefined) ?? defaultDataDir());
      results.push(await runOne(out, p, run, specs, data, log));
      await report();
    }
    const md = await report();
    console.log(md);
    shutdown();
    return 0;
  },
};
