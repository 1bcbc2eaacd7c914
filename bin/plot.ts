// `advfree plot RUN... --out FILE.png`: training curves of one or several runs from their metrics.jsonl, on
// shared axes (one colour per run): per epoch train loss, train and test accuracy and any robust accuracy; then
// every value the reuse probes logged (`advfree train --probe reuse`). The x axis is natural-equivalent epochs
// (SGD steps / minibatches per epoch), so free-m and K-PGD runs of the same budget line up. Written as FILE.png,
// FILE.svg and FILE.vl.json (the Vega-Lite spec, to restyle the chart).
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { lineChartSpec, type Panel } from '../plot/line-chart.js';
import { chartFiles, writeChart } from '../plot/render.js';
import { CliError, command, type FlagSet } from './args.js';
import { checkOutputFile } from './files.js';
import { RUN_FILES } from '../train/run-folder.js';
import { readMetricsFile, type MetricsLine as Line } from '../train/metrics.js';

/** Per-epoch values drawn when present, in this order; then any other epoch value naming robustness. */
const EPOCH_KEYS = ['train_loss', 'train_accuracy', 'test_accuracy'];
const ROBUST = /robust/;
/** Probe-line fields that place the line rather than measure something. */
const PROBE_PLACE = new Set(['type', 'epoch', 'step', 'iteration', 'epoch_progress', 'probe_seconds']);

/** The metrics lines of a run folder (a last line cut short is skipped with a warning on stderr). */
export function readMetrics(dir: string, cmd = 'plot'): Line[] {
  try {
    return readMetricsFile(join(dir, RUN_FILES.metrics), (w) => console.error(`${cmd}: warning: ${w}`));
  } catch (e) {
    throw new Error(`${cmd}: ${(e as Error).message}`, { cause: e });
  }
}

/** The panels of all runs, one per value: per-epoch values first, then probe values, in order of first appearance. */
export function panelsOf(runs: readonly Line[][]): Panel[] {
  const panels = new Map<string, Panel & { probe: boolean }>();
  const add = (key: string, series: number, x: number, y: unknown, probe = false) => {
    if (typeof y !== 'number' || !Number.isFinite(y)) return;
    if (!panels.has(key)) panels.set(key, { title: key.replaceAll('_', ' '), lines: [], probe });
    const p = panels.get(key)!;
    let l = p.lines.find((s) => s.series === series);
    if (!l) p.lines.push((l = { series, points: [] }));
    (l.points as [number, number][]).push([x, y]);
  };
  for (const key of EPOCH_KEYS) panels.set(key, { title: key.replaceAll('_', ' '), lines: [], probe: false });
  runs.forEach((lines, r) => {
    // SGD steps per minibatch (free-m: m) from any line that has both counters.
    const counted = lines.find(
      (l) => typeof l.iteration === 'number' && typeof l.step === 'number' && (l.step as number) > 0,
    );
    const perBatch = counted ? (counted.iteration as number) / (counted.step as number) : 1;
    for (const l of lines) {
      if (l.type === 'epoch') {
        for (const [k, v] of Object.entries(l))
          if (EPOCH_KEYS.includes(k) || ROBUST.test(k)) add(k, r, (l.epoch as number) * perBatch, v);
      } else if (l.type === 'probe') {
        for (const [k, v] of Object.entries(l))
          if (!PROBE_PLACE.has(k)) add(k, r, (l.epoch_progress as number) * perBatch, v, true);
      }
    }
  });
  const all = [...panels.values()].filter((p) => p.lines.length);
  return [...all.filter((p) => !p.probe), ...all.filter((p) => p.probe)];
}

export const plot = command({
  name: 'plot',
  summary:
    'draw training curves and reuse probes of runs (RUN... folders) as PNG, SVG and Vega-Lite spec, on shared axes',
  rest: 'runs',
  flags: {
    out: {
      type: 'string',
      help: 'PNG file to write (required); the SVG and the Vega-Lite spec (.vl.json) go beside it',
    },
    force: {
      type: 'boolean',
      help: 'let --out and its SVG and spec replace an earlier output (never an input, nor a file of a run folder)',
    },
  } satisfies FlagSet,
  async run(flags) {
    const dirs = flags.runs;
    const out = flags.out;
    if (!dirs.length) throw new CliError('plot: give one or more run folders: advfree plot RUN... --out FILE.png');
    if (!out) throw new CliError('plot: --out FILE.png is required');
    const files = Object.values(chartFiles(out));
    // Never an input or a run's file, even with --force; an earlier output only with it.
    const inputs = dirs.map((d) => join(d, RUN_FILES.metrics));
    for (const f of files) checkOutputFile('plot', '--out', f, { inputs, force: true });
    const taken = files.filter((f) => existsSync(f));
    if (taken.length && !flags.force) {
      throw new CliError(`plot: ${taken.join(', ')} exist${taken.length > 1 ? '' : 's'}; pass --force to overwrite`);
    }
    const runs = dirs.map((d) => readMetrics(d));
    const panels = panelsOf(runs);
    if (!panels.length)
      throw new Error(`plot: no epoch or probe lines in ${dirs.map((d) => join(d, RUN_FILES.metrics)).join(', ')}`);
    const names = dirs.map((d) => basename(resolve(d)));
    const title = [
      'advfree plot: ' + names.join(', '),
      'one colour per run; x: natural-equivalent epochs (SGD steps / minibatches per epoch)',
    ];
    const { width, height } = await writeChart(out, lineChartSpec(title, 'natural-equivalent epochs', panels, names));
    const count = `${names.length} run${names.length > 1 ? 's' : ''}`;
    console.log(`plot: ${panels.length} panels of ${count} -> ${files.join(', ')} (${width}x${height})`);
    return 0;
  },
});
