// Small multiples as a PNG: a grid of line panels sharing one x axis (from 0 to the largest x), one colour per
// series (a run) in every panel, each panel's y axis fitted to its values, and one legend underneath.
import { Canvas, colour, legendLayout, M, text, TEXT_H, type Rgb } from './canvas.js';

export interface Panel {
  title: string;
  /** Series by index into the legend's names; points in drawing order. */
  lines: { series: number; points: readonly (readonly [number, number])[] }[];
}

export const PANEL_W = 300;
export const PANEL_H = 150;
export const COLUMNS = 3;
const LINE = TEXT_H + 6;
/** Room for the y labels left of a plot area. */
const Y_LABELS = text('-0.000') + 8;
const CELL_W = Y_LABELS + PANEL_W + M;
const CELL_H = LINE + PANEL_H + LINE + M;
const FRAME: Rgb = [160, 160, 160];

export interface Area {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The plot area of panel `i` (row-major) under `titleLines` title lines. */
export function panelArea(i: number, titleLines: number): Area {
  const top = M + titleLines * LINE + M;
  return { x: M + (i % COLUMNS) * CELL_W + Y_LABELS, y: top + Math.floor(i / COLUMNS) * CELL_H + LINE, w: PANEL_W, h: PANEL_H };
}

/** The y range a panel shows: its values' range, widened where they are all equal. */
export function yRange(values: readonly number[]): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (hi > lo) return [lo, hi];
  const pad = Math.abs(lo) * 0.05 || 0.5;
  return [lo - pad, hi + pad];
}

const label = (v: number): string => (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(1) : v.toFixed(3));

export function lineCharts(title: readonly string[], panels: readonly Panel[], names: readonly string[]): Buffer {
  const rows = Math.ceil(panels.length / COLUMNS);
  const width = Math.max(M + Math.min(COLUMNS, panels.length) * CELL_W, ...title.map((t) => text(t) + 2 * M));
  const legend = legendLayout(names, width);
  const top = M + title.length * LINE + M;
  const height = top + rows * CELL_H + legend.height + M;
  const c = new Canvas(width, height);
  title.forEach((t, i) => c.write(t, M, M + i * LINE));
  const xMax = Math.max(1e-12, ...panels.flatMap((p) => p.lines.flatMap((l) => l.points.map(([x]) => x))));
  panels.forEach((p, i) => {
    const a = panelArea(i, title.length);
    c.write(p.title, a.x, a.y - LINE);
    const ys = p.lines.flatMap((l) => l.points.map(([, y]) => y));
    const [lo, hi] = ys.length ? yRange(ys) : [0, 1];
    c.rect(a.x, a.y, a.w, 1, FRAME);
    c.rect(a.x, a.y + a.h, a.w + 1, 1, FRAME);
    c.rect(a.x, a.y, 1, a.h, FRAME);
    c.rect(a.x + a.w, a.y, 1, a.h, FRAME);
    c.write(label(hi), a.x - Y_LABELS, a.y);
    c.write(label(lo), a.x - Y_LABELS, a.y + a.h - TEXT_H);
    c.write('0', a.x, a.y + a.h + 4);
    c.write(label(xMax), a.x + a.w - text(label(xMax)), a.y + a.h + 4);
    const at = ([x, y]: readonly [number, number]): [number, number] => [a.x + (a.w * x) / xMax, a.y + a.h * (1 - (y - lo) / (hi - lo))];
    for (const l of p.lines) {
      const rgb = colour(l.series);
      l.points.forEach((pt, k) => {
        const [x1, y1] = at(pt);
        c.rect(x1 - 2, y1 - 2, 5, 5, rgb);
        if (k === 0) return;
        const [x0, y0] = at(l.points[k - 1]);
        const n = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)));
        for (let s = 1; s < n; s++) c.rect(x0 + ((x1 - x0) * s) / n - 1, y0 + ((y1 - y0) * s) / n - 1, 2, 2, rgb);
      });
    }
  });
  c.legend(names, top + rows * CELL_H);
  return c.encode();
}
