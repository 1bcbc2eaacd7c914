// The experiment's report: per comparison, one row per method with the mean and spread over seeds of clean and
// robust accuracy, passes, training time and cost relative to natural training; a JSON file with every run; and a
// chart (Vega-Lite spec) of robust accuracy against training cost per comparison.
import { PASS_KINDS, type PassCounts } from '../adversarial/method.js';
import { scatterSpec, type Point } from '../plot/scatter.js';
import type { ChartSpec } from '../plot/spec.js';
import type { RunResult } from './runner.js';

export interface Row {
  comparison: number;
  label: string;
  seeds: number[];
  passesOverData: number;
  clean: Stat;
  /** By attack name (pgd, apgd-ce, apgd-t), on the examples each covered. */
  attacks: Record<string, Stat & { examples: number }>;
  /** Mean passes per run. */
  passes: PassCounts;
  trainSeconds: Stat;
  /** Mean training time over natural's in the same comparison. */
  costVsNatural: number | null;
  /** Full forward+backward passes per training image, over natural's. */
  passesVsNatural: number | null;
  /** Two-class data: the rarer class's recall, clean and under each attack. */
  minority: { class: string; clean: Stat; attacks: Record<string, Stat> } | null;
}

/** A report column: an attack's name in the results, and its header. */
export interface AttackColumn {
  name: string;
  title: string;
}

export interface Stat {
  mean: number;
  /** Sample standard deviation over seeds (0 with one seed). */
  sd: number;
}

export function stat(v: readonly number[]): Stat {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd };
}

// A second-order backward counts once here, although it costs more (the bench's kernel breakdown says how much).
const fullPasses = (p: PassCounts): number =>
  p.forward + p.backwardWeights + p.backwardInputOnly + p.backwardSecondOrder;

export function rows(results: readonly RunResult[]): Row[] {
  const out: Row[] = [];
  for (const comparison of [1, 2]) {
    const groups = new Map<string, RunResult[]>();
    for (const r of results.filter((x) => x.comparisons.includes(comparison)))
      groups.set(r.label, [...(groups.get(r.label) ?? []), r]);
    const made = [...groups].map(([label, rs]): Row => {
      const names = [...new Set(rs.flatMap((r) => r.attacks.map((a) => a.name)))];
      const passes = Object.fromEntries(
        PASS_KINDS.map((k) => [k, rs.reduce((s, r) => s + (r.train_passes[k] ?? 0), 0) / rs.length]),
      ) as unknown as PassCounts;
      return {
        comparison,
        label,
        seeds: rs.map((r) => r.seed),
        passesOverData: rs[0].passes_over_data,
        clean: stat(rs.map((r) => r.clean_accuracy)),
        attacks: Object.fromEntries(
          names.map((n) => {
            const a = rs.map((r) => r.attacks.find((x) => x.name === n)!).filter(Boolean);
            return [n, { ...stat(a.map((x) => x.accuracy)), examples: a[0].examples }];
          }),
        ),
        passes,
        trainSeconds: stat(rs.map((r) => r.train_seconds)),
        costVsNatural: null,
        passesVsNatural: null,
        minority: rs[0].minority
          ? {
              class: rs[0].minority.class,
              clean: stat(rs.map((r) => r.minority!.recall)),
              // Over the runs an attack evaluated (AutoAttack may run for the first seed only).
              attacks: Object.fromEntries(
                [...new Set(rs.flatMap((r) => r.minority!.attacks.map((a) => a.name)))].map((n) => [
                  n,
                  stat(rs.flatMap((r) => r.minority!.attacks.filter((x) => x.name === n).map((x) => x.recall))),
                ]),
              ),
            }
          : null,
      };
    });
    const nat = made.find((r) => r.label === 'natural');
    for (const r of made) {
      r.costVsNatural = nat ? r.trainSeconds.mean / nat.trainSeconds.mean : null;
      r.passesVsNatural = nat ? fullPasses(r.passes) / fullPasses(nat.passes) : null;
    }
    out.push(...made);
  }
  return out;
}

const pct = (s: Stat | undefined): string =>
  s ? `${(s.mean * 100).toFixed(1)}%${s.sd > 0 ? ` ± ${(s.sd * 100).toFixed(1)}` : ''}` : '–';
const ratio = (v: number | null): string => (v === null ? '–' : `${v.toFixed(2)}x`);

export function markdown(
  header: string[],
  all: readonly Row[],
  columns: readonly AttackColumn[],
  skipped: readonly string[],
): string {
  const attackNames = columns.map((c) => c.name);
  const minority = all.find((r) => r.minority)?.minority ?? null;
  const rareNames = minority ? Object.keys(minority.attacks) : [];
  const cols = [
    ...columns.map((c) => c.title),
    ...(minority
      ? [
          `${minority.class} recall`,
          ...rareNames.map((n) => `${minority.class} recall, ${columns.find((c) => c.name === n)?.title ?? n}`),
        ]
      : []),
  ];
  const table = (comparison: number, title: string) => {
    const rs = all.filter((r) => r.comparison === comparison);
    if (!rs.length) return [];
    return [
      `**${title}**`,
      '',
      `| method | seeds | passes over data | clean | ${cols.join(' | ')} | forward / backward (weights) / backward (input only) / first-layer | train time | cost vs natural (time) | passes vs natural |`,
      `|---|---|---|---|${cols.map(() => '---|').join('')}---|---|---|---|`,
      ...rs.map((r) => {
        const p = r.passes;
        const att = [
          ...attackNames.map((n) => pct(r.attacks[n])),
          ...(minority ? [pct(r.minority?.clean), ...rareNames.map((n) => pct(r.minority?.attacks[n]))] : []),
        ];
        return `| ${r.label} | ${r.seeds.length} | ${r.passesOverData} | ${pct(r.clean)} | ${att.join(' | ')} | ${p.forward} / ${p.backwardWeights} / ${p.backwardInputOnly} / ${p.partialForward} | ${(r.trainSeconds.mean / 60).toFixed(1)} min | ${ratio(r.costVsNatural)} | ${ratio(r.passesVsNatural)} |`;
      }),
      '',
    ];
  };
  return [
    ...header,
    '',
    ...table(
      1,
      '1. Equal epochs (as the paper): free-m trains the natural-equivalent epochs divided by m; K-PGD as many epochs as natural',
    ),
    ...table(2, '2. Equal cost: every method under one budget of full forward passes per training image'),
    ...(skipped.length ? [`Not registered here, so not run: ${skipped.join(', ')}.`, ''] : []),
    'Accuracies are mean ± sample standard deviation over seeds; each attack covers the examples its column header names in the text above.',
    '',
  ].join('\n');
}

/**
 * One point per method of a comparison: its accuracy under the first attack (mean ± sd) against its measured
 * forward+backward passes over natural's (exact on a shared machine, where wall-time ratios are noise; the table
 * has the times).
 */
export function chartPoints(all: readonly Row[], comparison: number, attack: string): Point[] {
  return all
    .filter((r) => r.comparison === comparison && r.attacks[attack])
    .map((r) => ({
      label: r.label,
      x: r.passesVsNatural ?? 0,
      y: r.attacks[attack].mean,
      spread: r.attacks[attack].sd,
    }));
}

/** The chart of a comparison (accuracy under the first attack against training passes, error bars over seeds), or null if empty. */
export function comparisonChart(
  title: readonly string[],
  all: readonly Row[],
  comparison: number,
  attack: AttackColumn,
): ChartSpec | null {
  const points = chartPoints(all, comparison, attack.name);
  return points.length
    ? scatterSpec(title, 'training passes / natural', `${attack.title} accuracy (mean ± sd over seeds)`, points)
    : null;
}
