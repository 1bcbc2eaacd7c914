// A scatter chart with vertical error bars (mean ± spread), one colour and shape per series named in the legend
// (text beside the points would collide where methods of equal cost crowd): the central picture of fast
// adversarial training papers, robust accuracy against training cost.
import { chartBase, keyColours, type ChartSpec } from './spec.js';

export interface Point {
  label: string;
  x: number;
  y: number;
  /** Half-height of the error bar (e.g. the standard deviation over seeds); 0 for none. */
  spread: number;
}

/** `yPercent`: y is a fraction, shown as a percentage. */
export function scatterSpec(
  title: readonly string[],
  xTitle: string,
  yTitle: string,
  points: readonly Point[],
  yPercent = true,
): ChartSpec {
  // From 0, with room right of the rightmost point.
  const xMax = 1.1 * Math.max(0, ...points.map((p) => p.x));
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle, scale: { domain: [0, xMax] } };
  const y = {
    field: 'y',
    type: 'quantitative' as const,
    title: yTitle,
    ...(yPercent ? { axis: { format: '.0%' } } : {}),
  };
  const labels = points.map((p) => p.label);
  const colour = { field: 'label', type: 'nominal' as const, title: null, scale: keyColours(labels) };
  return {
    ...chartBase(title),
    width: 520,
    height: 340,
    data: { values: points.map((p) => ({ ...p })) },
    transform: [
      { calculate: 'datum.y - datum.spread', as: 'low' },
      { calculate: 'datum.y + datum.spread', as: 'high' },
    ],
    layer: [
      {
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: { x, y: { ...y, field: 'low' }, y2: { field: 'high' }, color: colour },
      },
      {
        mark: { type: 'point', filled: true, size: 110, opacity: 1 },
        encoding: {
          x,
          y,
          color: colour,
          shape: { field: 'label', type: 'nominal', title: null, scale: { domain: labels } },
        },
      },
    ],
  };
}
