// A scatter chart as a PNG: one labelled point per series with a vertical error bar (mean ± spread), linear
// axes with tick labels, in the built-in 3x5 font. The central picture of fast adversarial training papers:
// robust accuracy against training cost.
import { PNG } from 'pngjs';
import { GLYPH_H, rasterize, textWidth } from './font.js';

export interface Point {
  label: string;
  x: number;
  y: number;
  /** Half-height of the error bar (e.g. the standard deviation over seeds); 0 for none. */
  spread: number;
}

const S = 2;
const M = 48;
const W = 640;
const H = 400;
const COLORS: [number, number, number][] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];

/** Round ticks covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
  const k = [1, 2, 5, 10].find((f) => (hi - lo) / (f * step) <= 6) ?? 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / (k * step)) * k * step; v <= hi + 1e-9; v += k * step) out.push(Number(v.toPrecision(6)));
  return out;
}

export function scatterChart(title: readonly string[], xLabel: string, yLabel: string, points: readonly Point[]): Buffer {
  const top = M + title.length * (GLYPH_H * S + 6);
  const width = M + W + M + 160;
  const height = top + H + M + 20;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const dot = (x: number, y: number, [r, g, b]: [number, number, number]) => {
    const i = Math.round(x);
    const j = Math.round(y);
    if (i < 0 || j < 0 || i >= width || j >= height) return;
    const o = 4 * (j * width + i);
    png.data[o] = r;
    png.data[o + 1] = g;
    png.data[o + 2] = b;
    png.data[o + 3] = 255;
  };
  const rect = (x: number, y: number, w: number, h: number, c: [number, number, number]) => {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) dot(x + i, y + j, c);
  };
  const write = (t: string, x: number, y: number, c: [number, number, number] = [0, 0, 0]) => rasterize(t, (i, j) => rect(x + i * S, y + j * S, S, S, c));
  title.forEach((t, i) => write(t, M, M / 2 + i * (GLYPH_H * S + 6)));
  const xs = points.map((p) => p.x);
  const ys = points.flatMap((p) => [p.y - p.spread, p.y + p.spread]);
  const [x0, x1] = [0, Math.max(1, ...xs) * 1.1];
  const [y0, y1] = [0, Math.min(1, Math.max(0.1, ...ys) * 1.15)];
  const px = (v: number) => M + ((v - x0) / (x1 - x0)) * W;
  const py = (v: number) => top + H - ((v - y0) / (y1 - y0)) * H;
  const grey: [number, number, number] = [200, 200, 200];
  for (const t of ticks(x0, x1)) {
    rect(px(t), top, 1, H, grey);
    write(String(t), px(t) - (textWidth(String(t)) * S) / 2, top + H + 6);
  }
  for (const t of ticks(y0, y1)) {
    rect(M, py(t), W, 1, grey);
    const label = `${Math.round(t * 100)}%`;
    write(label, M - textWidth(label) * S - 6, py(t) - GLYPH_H);
  }
  rect(M, top + H, W, 1, [0, 0, 0]);
  rect(M, top, 1, H, [0, 0, 0]);
  write(xLabel, M + W / 2 - (textWidth(xLabel) * S) / 2, top + H + 24);
  write(yLabel, M, top - GLYPH_H * S - 6);
  points.forEach((p, i) => {
    const c = COLORS[i % COLORS.length];
    const [cx, cy] = [px(p.x), py(p.y)];
    if (p.spread > 0) rect(cx, py(p.y + p.spread), 1, py(p.y - p.spread) - py(p.y + p.spread), c);
    rect(cx - 4, cy - 4, 9, 9, c);
    write(p.label, cx + 8, cy - GLYPH_H);
    rect(M + W + M, top + i * 16, 9, 9, c);
    write(p.label, M + W + M + 14, top + i * 16);
  });
  return PNG.sync.write(png);
}
