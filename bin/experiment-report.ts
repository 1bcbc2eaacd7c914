// The experiment's report files in OUT: experiment.md (the tables), experiment.json (every run and row) and the
// charts, from the results done so far; runs still to do are named in a partial report's header. Written after
// every run of the local executor, by the Slurm report job, and by `advfree experiment --report`.
import { join } from 'node:path';
import { describeAttack } from '../adversarial/attack-registry.js';
import { describeThreat } from '../adversarial/threat.js';
import { findDataset } from '../data/index.js';
import { writeFileAtomic } from '../nn/atomic.js';
import {
  experimentSetting,
  presetThreat,
  trainThreat,
  type PlannedAttack,
  type Preset,
  type RunSpec,
} from '../experiment/plan.js';
import { comparisonChart, markdown, rows } from '../experiment/report.js';
import { attackColumns, type RunResult } from '../experiment/runner.js';
import { lineChartSpec } from '../plot/line-chart.js';
import { chartFiles, writeChart } from '../plot/render.js';
import { panelsOf, readMetrics } from './plot.js';

export interface ReportContext {
  out: string;
  preset: string;
  settings: Preset;
  runs: readonly RunSpec[];
  skipped: readonly string[];
  specs: readonly PlannedAttack[];
  commit: string;
  /** The adapter the runs ran on, as the header names it. */
  adapter: string;
  /** The header's closing sentence (how long this invocation took, or where the report came from). */
  closing: string;
}

/** The two comparisons, by number and by the name of their charts. */
const COMPARISONS = [
  [1, 'equal-epochs'],
  [2, 'equal-cost'],
] as const;

/** The files writeReport (re)writes in OUT, besides plan.json and the runs/ folder. */
export const REPORT_FILES = [
  'experiment.md',
  'experiment.json',
  ...COMPARISONS.flatMap(([, c]) => [`chart-${c}.png`, `curves-${c}.png`].flatMap((f) => Object.values(chartFiles(f)))),
];

/** The adapters named in the results, for a report written where none ran (the Slurm report job, --report). */
export function resultAdapters(results: readonly RunResult[]): string {
  const names = [...new Set(results.map((r) => r.adapter ?? 'an adapter not recorded'))];
  return names.length ? names.join(', ') : 'no adapter yet (no run done)';
}

/** Writes the report files of `results` (in plan order); returns the markdown. */
export async function writeReport(c: ReportContext, results: readonly RunResult[]): Promise<string> {
  const { out, settings: p, preset, specs, runs } = c;
  const all = rows(results);
  const columns = attackColumns(p, specs);
  const pending = runs.filter((x) => !results.some((d) => d.id === x.id)).map((x) => x.id);
  const setting = experimentSetting(p);
  const d = findDataset(p.data ?? 'cifar10');
  const examples = (n: number | null, total: number) => (n === null || n >= total ? `all ${total}` : `the first ${n}`);
  const recipe =
    (p.optimizer ?? 'sgd') === 'adam'
      ? `Adam, lr ${p.lr} ${p.schedule ?? 'multistep'}`
      : `SGD momentum 0.9, lr ${p.lr} ${p.schedule ?? 'multistep (x0.1 at 50% and 75%)'}`;
  const budget = p.budget ?? p.epochs;
  const header = [
    `Experiment (preset ${preset}) of ${new Date().toISOString().slice(0, 10)}, commit ${c.commit}, on ${c.adapter}.`,
    `${p.model} on ${examples(p.trainLimit, d.rows.train)} ${d.name} training examples, batch ${p.batch}, ${recipe}, weight decay ${p.weightDecay ?? 5e-4}` +
      `${d.augment ? ', pad-4 crop + flip' : ''}; threat model ${describeThreat(presetThreat(p))}` +
      `${p.trainEps !== undefined ? ` (the methods train at ${describeThreat(trainThreat(p))})` : ''};`,
    `${p.epochs} natural-equivalent epochs (comparison 1); a budget of ${budget} full forward passes per training example (comparison 2);`,
    `every model evaluated on ${examples(p.testImages, d.rows.test)} test examples, BN in eval mode: ` +
      specs
        .map(
          (s) =>
            `${describeAttack(s.attack, setting)}${s.limit !== null ? ` on the first ${s.limit}` : ''}${s.seeds ? ` (seed ${s.seeds.join(', ')} only)` : ''}`,
        )
        .join('; ') +
      `${p.apgdChained ? ' (APGD-T runs on the examples APGD-CE left robust: its column is the worst case over both, as AutoAttack counts)' : ''}. ${c.closing}`,
    ...(pending.length
      ? [`**Partial: ${results.length} of ${runs.length} runs done; still to run: ${pending.join(', ')}.**`]
      : []),
  ];
  const md = markdown(header, all, columns, c.skipped);
  await writeFileAtomic(join(out, 'experiment.md'), md);
  await writeFileAtomic(
    join(out, 'experiment.json'),
    `${JSON.stringify({ header, settings: p, adapter: c.adapter, commit: c.commit, pending, rows: all, runs: results }, null, 2)}\n`,
  );
  for (const [comparison, name] of COMPARISONS) {
    const title = [
      `advfree experiment ${preset}: ${name}`,
      `${p.model} on ${d.name}, ${columns[0]?.title ?? 'no attack'}`,
    ];
    const chart = columns.length ? comparisonChart(title, all, comparison, columns[0]) : null;
    if (!chart) continue;
    await writeChart(join(out, `chart-${name}.png`), chart);
    // Per-epoch curves of the comparison's runs (the first seed of each method), on shared axes.
    const curves = runs.filter(
      (x) => x.comparisons.includes(comparison) && x.seed === p.seeds[0] && results.some((d) => d.id === x.id),
    );
    const panels = panelsOf(curves.map((x) => readMetrics(join(out, 'runs', x.id), 'experiment')));
    const curveTitle = [
      `advfree experiment ${preset}: ${name}, per-epoch curves (seed ${p.seeds[0]})`,
      'one colour per run',
    ];
    if (panels.length)
      await writeChart(
        join(out, `curves-${name}.png`),
        lineChartSpec(
          curveTitle,
          'natural-equivalent epochs',
          panels,
          curves.map((x) => x.id),
        ),
      );
  }
  return md;
}
