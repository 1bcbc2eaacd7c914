// A horizontal stacked bar chart as a PNG: one bar per row, one colour per key, a legend underneath.
import { Canvas, colour, legendLayout, M, text, TEXT_H } from './canvas.js';

export interface Bar {
  label: string;
  /** Value per key; keys missing here draw nothing. */
  values: Record<string, number>;
  /** Printed after the bar (e.g. its total). */
  note: string;
}

const ROW = 28;
const BAR_H = 16;
const BAR_W = 640;

/** `title` lines print above the bars. */
export function stackedBarChart(title: readonly string[], bars: readonly Bar[], keys: readonly string[]): Buffer {
  const labelW = Math.max(0, ...bars.map((b) => text(b.label))) + M;
  const noteW = Math.max(0, ...bars.map((b) => text(b.note))) + M;
  const width = Math.max(M + labelW + BAR_W + noteW + M, ...title.map((t) => text(t) + 2 * M));
  const legend = legendLayout(keys, width);
  const LINE = TEXT_H + 6;
  const top = M + title.length * LINE + M;
  const height = top + bars.length * ROW + M + legend.height + M;
  const c = new Canvas(width, height);

  title.forEach((t, i) => c.write(t, M, M + i * LINE));
  const max = Math.max(1e-12, ...bars.map((b) => keys.reduce((s, k) => s + (b.values[k] ?? 0), 0)));
  bars.forEach((b, r) => {
    const y = top + r * ROW;
    c.write(b.label, M, y + (BAR_H - TEXT_H) / 2);
    let x = M + labelW;
    keys.forEach((k, i) => {
      const w = ((b.values[k] ?? 0) / max) * BAR_W;
      c.rect(x, y, w, BAR_H, colour(i));
      x += w;
    });
    c.write(b.note, x + 6, y + (BAR_H - TEXT_H) / 2);
  });
  c.legend(keys, top + bars.length * ROW + M);
  return c.encode();
}
