// A scatter chart as a PNG on the shared canvas (plot/canvas.ts): one labelled point per series with a vertical
// error bar (mean ± spread) and linear axes with tick labels. The central picture of fast adversarial training
// papers: robust accuracy against training cost.
import { Canvas, colour, M, S, TEXT_H, text, type Rgb } from './canvas.js';
import { GLYPH_H } from './font.js';

export interface Point {
  label: string;
  x: number;
  y: number;
  /** Half-height of the error bar (e.g. the standard deviation over seeds); 0 for none. */
  spread: number;
}

const L = 3 * M; // room for the y tick labels
const W = 640;
const H = 400;

/** Round ticks covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
  const k = [1, 2, 5, 10].find((f) => (hi - lo) / (f * step) <= 6) ?? 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / (k * step)) * k * step; v <= hi + 1e-9; v += k * step) out.push(Number(v.toPrecision(6)));
  return out;
}

export function scatterChart(title: readonly string[], xLabel: string, yLabel: string, points: readonly Point[]): Buffer {
  const line = TEXT_H + 6;
  const top = M + (title.length + 1) * line + M;
  const c = new Canvas(L + W + 2 * M + 10 * M, top + H + 3 * M + line);
  title.forEach((t, i) => c.write(t, L, M + i * line));
  const x1 = Math.max(1, ...points.map((p) => p.x)) * 1.1;
  const y1 = Math.min(1, Math.max(0.1, ...points.map((p) => p.y + p.spread)) * 1.15);
  const px = (v: number) => L + (v / x1) * W;
  const py = (v: number) => top + H - (v / y1) * H;
  const grey: Rgb = [200, 200, 200];
  for (const t of ticks(0, x1)) {
    c.rect(px(t), top, 1, H, grey);
    c.write(String(t), px(t) - text(String(t)) / 2, top + H + 6);
  }
  for (const t of ticks(0, y1)) {
    c.rect(L, py(t), W, 1, grey);
    const label = `${Math.round(t * 100)}%`;
    c.write(label, L - text(label) - 6, py(t) - GLYPH_H);
  }
  c.rect(L, top + H, W, 1, [0, 0, 0]);
  c.rect(L, top, 1, H, [0, 0, 0]);
  c.write(xLabel, L + W / 2 - text(xLabel) / 2, top + H + 2 * M);
  c.write(yLabel, L, top - line);
  points.forEach((p, i) => {
    const col = colour(i);
    const [cx, cy] = [px(p.x), py(p.y)];
    if (p.spread > 0) c.rect(cx, py(p.y + p.spread), S / 2, py(p.y - p.spread) - py(p.y + p.spread), col);
    c.rect(cx - 4, cy - 4, 9, 9, col);
    c.write(p.label, cx + 8, cy - GLYPH_H);
    c.rect(L + W + 2 * M, top + i * line, TEXT_H, TEXT_H, col);
    c.write(p.label, L + W + 2 * M + TEXT_H + 6, top + i * line);
  });
  return c.encode();
}
