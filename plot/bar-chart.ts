// Horizontal stacked bars: one bar per row, one colour per key in key order, a note printed after each bar (e.g.
// its total), a legend underneath.
import { chartBase, keyColours, type ChartSpec } from './spec.js';

export interface Bar {
  label: string;
  /** Value per key; keys missing here draw nothing. */
  values: Record<string, number>;
  /** Printed after the bar. */
  note: string;
}

/** One row per bar and key present: what the spec's segment data holds. */
export interface Segment {
  bar: string;
  key: string;
  /** Index of the key: the stacking order. */
  order: number;
  value: number;
}

export const segments = (bars: readonly Bar[], keys: readonly string[]): Segment[] =>
  bars.flatMap((b) =>
    keys.flatMap((key, order) => (key in b.values ? [{ bar: b.label, key, order, value: b.values[key] }] : [])),
  );

export function stackedBarSpec(
  title: readonly string[],
  valueTitle: string,
  bars: readonly Bar[],
  keys: readonly string[],
): ChartSpec {
  const y = { field: 'bar', type: 'nominal' as const, title: null, sort: bars.map((b) => b.label) };
  return {
    ...chartBase(title),
    width: 560,
    height: { step: 26 },
    layer: [
      {
        data: { values: segments(bars, keys) },
        mark: { type: 'bar' },
        encoding: {
          y,
          x: { field: 'value', type: 'quantitative', title: valueTitle, stack: 'zero' },
          color: {
            field: 'key',
            type: 'nominal',
            title: null,
            scale: keyColours(keys),
            legend: { orient: 'bottom', direction: 'horizontal', columns: 4 },
          },
          order: { field: 'order', type: 'quantitative' },
        },
      },
      {
        data: {
          values: bars.map((b) => ({
            bar: b.label,
            total: Object.values(b.values).reduce((s, v) => s + v, 0),
            note: b.note,
          })),
        },
        mark: { type: 'text', align: 'left', dx: 6, fontSize: 11 },
        encoding: { y, x: { field: 'total', type: 'quantitative' }, text: { field: 'note' } },
      },
    ],
  };
}
