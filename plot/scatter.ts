// A scatter chart with vertical error bars (mean ± spread) and each point labelled with its series: the central
// picture of fast adversarial training papers, robust accuracy against training cost.
import { chartBase, keyColours, type ChartSpec } from './spec.js';

export interface Point {
  label: string;
  x: number;
  y: number;
  /** Half-height of the error bar (e.g. the standard deviation over seeds); 0 for none. */
  spread: number;
}

/** `yPercent`: y is a fraction, shown as a percentage. */
export function scatterSpec(title: readonly string[], xTitle: string, yTitle: string, points: readonly Point[], yPercent = true): ChartSpec {
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle, scale: { domainMin: 0 } };
  const y = { field: 'y', type: 'quantitative' as const, title: yTitle, ...(yPercent ? { axis: { format: '.0%' } } : {}) };
  const colour = { field: 'label', type: 'nominal' as const, title: null, scale: keyColours(points.map((p) => p.label)) };
  return {
    ...chartBase(title),
    width: 520,
    height: 340,
    data: { values: points.map((p) => ({ ...p })) },
    transform: [{ calculate: 'datum.y - datum.spread', as: 'low' }, { calculate: 'datum.y + datum.spread', as: 'high' }],
    layer: [
      { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x, y: { ...y, field: 'low' }, y2: { field: 'high' }, color: { ...colour, legend: null } } },
      { mark: { type: 'point', filled: true, size: 90, opacity: 1 }, encoding: { x, y, color: colour } },
      { mark: { type: 'text', align: 'left', dx: 8, dy: -8, fontSize: 11 }, encoding: { x, y, text: { field: 'label' } } },
    ],
  };
}
