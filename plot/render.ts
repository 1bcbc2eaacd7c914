// Charts to files, headless: Vega-Lite compiles the spec to Vega, Vega lays it out and writes SVG (no browser, no
// canvas), resvg (a Rust SVG renderer, prebuilt for each platform on npm) rasterizes that to PNG. Both use the
// shipped font (plot/font.ts) and no other, so a chart has the same pixels on every machine, fonts installed or not.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { writeFileAtomic } from '../nn/atomic.js';
import { FONT_FAMILY, fontFiles, textWidth } from './font.js';
import type { ChartSpec } from './spec.js';

/** SVG (and so PNG) pixels per Vega layout pixel: sharp text and lines at a layout sized for reading. */
export const SCALE = 2;

// Vega's layout measures text through this hook, undeclared in its types (vl-convert sets it the same way).
(vega as unknown as { textMetrics: { width: typeof textWidth } }).textMetrics.width = textWidth;

export interface Raster {
  png: Buffer;
  width: number;
  height: number;
}

/** An SVG rasterized at its own width and height, its text in the shipped font whatever family it names. */
export function svgToPng(svg: string): Raster {
  const family = FONT_FAMILY;
  const font = {
    fontFiles: fontFiles(),
    loadSystemFonts: false,
    defaultFontFamily: family,
    sansSerifFamily: family,
    serifFamily: family,
    monospaceFamily: family,
  };
  const img = new Resvg(svg, { font, background: 'white', logLevel: 'off' }).render();
  return { png: img.asPng(), width: img.width, height: img.height };
}

export interface Rendered extends Raster {
  svg: string;
}

export async function renderChart(spec: ChartSpec): Promise<Rendered> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG(SCALE);
    return { svg, ...svgToPng(svg) };
  } finally {
    view.finalize();
  }
}

/** The three files of the chart whose PNG is `png`: the PNG, the SVG and the Vega-Lite spec beside them. */
export function chartFiles(png: string): { png: string; svg: string; spec: string } {
  const base = png.replace(/\.png$/i, '');
  return { png, svg: `${base}.svg`, spec: `${base}.vl.json` };
}

/** Renders `spec` and writes its three files (each atomically: a reader sees the old file or the new one). */
export async function writeChart(png: string, spec: ChartSpec): Promise<Rendered> {
  const r = await renderChart(spec);
  const files = chartFiles(png);
  await writeFileAtomic(files.spec, `${JSON.stringify(spec, null, 2)}\n`);
  await writeFileAtomic(files.svg, r.svg);
  await writeFileAtomic(files.png, r.png);
  return r;
}
