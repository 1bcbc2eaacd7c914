// A grid of small RGB images, each scaled up by pixel replication and labelled with lines of coloured text under
// it, below a title: the images are a raster (pngjs), the text is SVG drawn over it in the charts' font (resvg),
// so an image's pixels stay exact and its labels read like the charts'.
import { PNG } from 'pngjs';
import { textWidth } from './font.js';
import { svgToPng, type Raster } from './render.js';

export interface GridCell {
  /** Channel-major RGB in [0, 1] (clamped): 3 x side x side values. */
  pixels: ArrayLike<number>;
  /** Text lines under the image; colour is any CSS colour. */
  lines: { text: string; colour: string }[];
}

export const GAP = 6;
const TITLE_SIZE = 14;
export const TITLE_LINE = 20;
export const LABEL_LINE = 16;

/** Where each row of images starts (y), the image side on screen, and the grid's size. */
export function gridLayout(
  title: readonly string[],
  rows: readonly (readonly GridCell[])[],
  side: number,
  scale: number,
) {
  const px = side * scale;
  const cols = Math.max(0, ...rows.map((r) => r.length));
  const rowY: number[] = [];
  let y = GAP + title.length * TITLE_LINE + GAP;
  for (const r of rows) {
    rowY.push(y);
    y += px + Math.max(0, ...r.map((c) => c.lines.length)) * LABEL_LINE + GAP;
  }
  // Wide enough for the title too (the first line is bold).
  const titleWidth = (t: string, i: number) =>
    Math.ceil(textWidth({ fontSize: TITLE_SIZE, fontWeight: i ? 'normal' : 'bold' }, t)) + 2 * GAP;
  const width = Math.max(cols * (px + GAP) + GAP, ...title.map(titleWidth));
  return { px, rowY, cellX: (i: number) => GAP + i * (px + GAP), width, height: y };
}

const escape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function imageGrid(
  title: readonly string[],
  rows: readonly (readonly GridCell[])[],
  side: number,
  scale = 3,
): Raster {
  const { px, rowY, cellX, width, height } = gridLayout(title, rows, side, scale);
  const png = new PNG({ width, height });
  png.data.fill(255);
  const texts: string[] = [];
  const text = (s: string, x: number, y: number, size: number, colour: string, weight = 'normal') =>
    texts.push(
      `<text x="${x}" y="${y}" font-size="${size}" font-weight="${weight}" fill="${escape(colour)}">${escape(s)}</text>`,
    );
  title.forEach((t, i) =>
    text(t, GAP, GAP + (i + 1) * TITLE_LINE - 5, TITLE_SIZE, '#000', i === 0 ? 'bold' : 'normal'),
  );
  const plane = side * side;
  rows.forEach((row, r) =>
    row.forEach((cell, i) => {
      const x0 = cellX(i);
      const y0 = rowY[r];
      for (let y = 0; y < px; y++) {
        for (let x = 0; x < px; x++) {
          const s = Math.floor(y / scale) * side + Math.floor(x / scale);
          const o = 4 * ((y0 + y) * width + x0 + x);
          for (let c = 0; c < 3; c++)
            png.data[o + c] = Math.round(255 * Math.min(1, Math.max(0, cell.pixels[c * plane + s])));
        }
      }
      cell.lines.forEach((l, k) => text(l.text, x0, y0 + px + (k + 1) * LABEL_LINE - 3, 12, l.colour));
    }),
  );
  const image = `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
  return svgToPng(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
      `<image href="${image}" x="0" y="0" width="${width}" height="${height}" image-rendering="optimizeSpeed"/>` +
      `<g font-family="sans-serif">${texts.join('')}</g></svg>`,
  );
}
