// Reading a chart back as a user gets it: its three files, the PNG decoded (pngjs), and what its pixels show.
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { chartFiles, SCALE } from '../plot/render.js';
import type { ChartSpec } from '../plot/spec.js';

export type Rgb = [number, number, number];

export const rgb = (hex: string): Rgb => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as Rgb;

export interface ChartBack {
  spec: ChartSpec & { data?: { values: Record<string, unknown>[] } };
  svg: string;
  png: PNG;
}

/**
 * The chart whose PNG is `path`: asserts that the spec, the SVG and the PNG are there, and that the PNG decodes at
 * the size the SVG states (its width and height; SCALE times the layout's viewBox).
 */
export function readChart(path: string): ChartBack {
  const files = chartFiles(path);
  const spec = JSON.parse(readFileSync(files.spec, 'utf8'));
  const svg = readFileSync(files.svg, 'utf8');
  const png = PNG.sync.read(readFileSync(files.png));
  const m = /^<svg[^>]*\swidth="([\d.]+)"\s+height="([\d.]+)"\s+viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(svg);
  assert.ok(m, `${files.svg} states its size`);
  const [w, h, vw, vh] = m!.slice(1).map(Number);
  assert.equal([png.width, png.height], [w, h], `${path} decodes at the SVG's size`);
  assert.equal([w, h], [vw * SCALE, vh * SCALE], 'the SVG is the layout at SCALE');
  return { spec, svg, png };
}

export const pixel = (png: PNG, x: number, y: number): Rgb => {
  const o = 4 * (y * png.width + x);
  return [png.data[o], png.data[o + 1], png.data[o + 2]];
};

/** Where `png` has exactly colour `c`. */
export function pixelsOf(png: PNG, c: Rgb): [number, number][] {
  const out: [number, number][] = [];
  for (let y = 0; y < png.height; y++) {
    for (let x = 0; x < png.width; x++) {
      const o = 4 * (y * png.width + x);
      if (png.data[o] === c[0] && png.data[o + 1] === c[1] && png.data[o + 2] === c[2]) out.push([x, y]);
    }
  }
  return out;
}

/** Near-black pixels in rows [y0, y1): text in a band where nothing else is drawn (none when no font was found). */
export function darkPixels(png: PNG, y0: number, y1: number, x0 = 0, x1 = png.width): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (pixel(png, x, y).every((v) => v < 100)) n++;
  return n;
}
