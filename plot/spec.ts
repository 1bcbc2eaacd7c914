// What every chart shares: Vega-Lite specs (the declarative grammar behind Altair) with one palette, one look and
// a title whose first line is the title and the rest its subtitle. A spec is plain JSON written beside each chart,
// with its data inline, so a user can restyle and re-render it with any Vega-Lite tool, without our code.
import type { TopLevelSpec } from 'vega-lite';

export type ChartSpec = TopLevelSpec;

/** Tableau 10, then two darker tones: distinct colours for up to 12 keys, in key order. */
export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
  '#393b79',
  '#ad494a',
];

/** A colour scale that gives `keys[i]` PALETTE[i] (cycling), whatever the data's order. */
export const keyColours = (keys: readonly string[]) => ({
  domain: [...keys],
  range: keys.map((_, i) => PALETTE[i % PALETTE.length]),
});

/** The top-level parts of every chart: schema, title lines, white background, font sizes readable at 2x. */
export function chartBase(title: readonly string[]) {
  const [text, ...subtitle] = title;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text, ...(subtitle.length ? { subtitle } : {}), anchor: 'start' as const },
    background: 'white',
    padding: 12,
    config: {
      title: { fontSize: 15, subtitleFontSize: 12, subtitleColor: '#333' },
      axis: { labelFontSize: 11, titleFontSize: 12 },
      legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 400 },
      header: { labelFontSize: 12, titleFontSize: 12 },
    },
  };
}
