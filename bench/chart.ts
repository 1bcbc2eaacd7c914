// A horizontal stacked bar chart as a PNG (pngjs): one bar per row, one colour per key, a legend underneath,
// labels in the built-in 3x5 font.
import { PNG } from 'pngjs';
import { GLYPH_H, rasterize, textWidth } from './font.js';

export interface Bar {
  label: string;
  /** Value per key; keys missing here draw nothing. */
  values: Record<string, number>;
  /** Printed after the bar (e.g. its total). */
  note: string;
}

/** Distinct colours for up to 12 keys, in key order. */
const PALETTE: [number, number, number][] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207], [57, 59, 121], [173, 73, 74],
];

const S = 2; // screen pixels per font pixel
const M = 16; // margin
const ROW = 28;
const BAR_H = 16;
const BAR_W = 640;
const TEXT_H = GLYPH_H * S;
const text = (t: string) => textWidth(t) * S;

/** `title` lines print above the bars. */
export function stackedBarChart(title: readonly string[], bars: readonly Bar[], keys: readonly string[]): Buffer {
  const labelW = Math.max(0, ...bars.map((b) => text(b.label))) + M;
  const noteW = Math.max(0, ...bars.map((b) => text(b.note))) + M;
  const width = Math.max(M + labelW + BAR_W + noteW + M, ...title.map((t) => text(t) + 2 * M));
  const legend = legendLayout(keys, width);
  const LINE = TEXT_H + 6;
  const top = M + title.length * LINE + M;
  const height = top + bars.length * ROW + M + legend.height + M;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const rect = (x: number, y: number, w: number, h: number, [r, g, b]: [number, number, number]) => {
    for (let j = Math.max(0, Math.round(y)); j < Math.min(height, Math.round(y + h)); j++) {
      for (let i = Math.max(0, Math.round(x)); i < Math.min(width, Math.round(x + w)); i++) {
        const o = 4 * (j * width + i);
        png.data[o] = r;
        png.data[o + 1] = g;
        png.data[o + 2] = b;
        png.data[o + 3] = 255;
      }
    }
  };
  const write = (t: string, x: number, y: number) => rasterize(t, (i, j) => rect(x + i * S, y + j * S, S, S, [0, 0, 0]));

  title.forEach((t, i) => write(t, M, M + i * LINE));
  const max = Math.max(1e-12, ...bars.map((b) => keys.reduce((s, k) => s + (b.values[k] ?? 0), 0)));
  bars.forEach((b, r) => {
    const y = top + r * ROW;
    write(b.label, M, y + (BAR_H - TEXT_H) / 2);
    let x = M + labelW;
    keys.forEach((k, i) => {
      const w = ((b.values[k] ?? 0) / max) * BAR_W;
      rect(x, y, w, BAR_H, PALETTE[i % PALETTE.length]);
      x += w;
    });
    write(b.note, x + 6, y + (BAR_H - TEXT_H) / 2);
  });
  const ly = top + bars.length * ROW + M;
  legend.items.forEach(({ x, y }, i) => {
    rect(x, ly + y, TEXT_H, TEXT_H, PALETTE[i % PALETTE.length]);
    write(keys[i], x + TEXT_H + 6, ly + y);
  });
  return PNG.sync.write(png);
}

/** Legend entries (swatch + name) flowed left to right, wrapping at the chart width. */
function legendLayout(keys: readonly string[], width: number): { items: { x: number; y: number }[]; height: number } {
  let x = M;
  let y = 0;
  const items = keys.map((k) => {
    const w = TEXT_H + 6 + text(k) + 2 * M;
    if (x > M && x + w > width - M) {
      x = M;
      y += TEXT_H + 8;
    }
    const at = { x, y };
    x += w;
    return at;
  });
  return { items, height: keys.length ? y + TEXT_H : 0 };
}
