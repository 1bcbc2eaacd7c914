// Small multiples of line charts: one panel per value (facet, three columns), one x axis shared by all panels
// (from 0), each panel's y axis fitted to its values, one colour per series (a run) in every panel and one legend.
import { chartBase, keyColours, type ChartSpec } from './spec.js';

export interface Panel {
  title: string;
  /** Series by index into the legend's names; points in drawing order. */
  lines: { series: number; points: readonly (readonly [number, number])[] }[];
}

export const COLUMNS = 3;

/** One row per point: what the spec's data holds, in panel, series and point order. */
export interface CurvePoint {
  panel: string;
  run: string;
  x: number;
  y: number;
}

export const curvePoints = (panels: readonly Panel[], names: readonly string[]): CurvePoint[] =>
  panels.flatMap((p) =>
    p.lines.flatMap((l) => l.points.map(([x, y]) => ({ panel: p.title, run: names[l.series], x, y }))),
  );

export function lineChartSpec(
  title: readonly string[],
  xTitle: string,
  panels: readonly Panel[],
  names: readonly string[],
): ChartSpec {
  return {
    ...chartBase(title),
    data: { values: curvePoints(panels, names) },
    columns: Math.min(COLUMNS, panels.length),
    facet: {
      field: 'panel',
      type: 'nominal',
      sort: panels.map((p) => p.title),
      title: null,
      header: { labelFontWeight: 'bold' },
    },
    spec: {
      width: 260,
      height: 150,
      mark: { type: 'line', point: true, strokeWidth: 1.5 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: xTitle, scale: { domainMin: 0 } },
        // Padding keeps points off the top edge, where they would push that panel's title up.
        y: { field: 'y', type: 'quantitative', title: null, scale: { zero: false, padding: 8 } },
        color: {
          field: 'run',
          type: 'nominal',
          title: 'run',
          scale: keyColours(names),
          legend: { orient: 'bottom', direction: 'horizontal', columns: 3 },
        },
      },
    },
    resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
  };
}
