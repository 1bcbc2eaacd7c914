// A white RGBA canvas for the charts (pngjs): filled rectangles, text in the built-in 3x5 font, a palette of
// distinct colours and a legend of swatches, so every chart draws the same way and needs no font files.
import { PNG } from 'pngjs';
import { GLYPH_H, rasterize, textWidth } from './font.js';

export type Rgb = [number, number, number];

/** Distinct colours for up to 12 keys, in key order. */
export const PALETTE: Rgb[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207], [57, 59, 121], [173, 73, 74],
];

export const colour = (i: number): Rgb => PALETTE[i % PALETTE.length];

/** Screen pixels per font pixel. */
export const S = 2;
/** Margin. */
export const M = 16;
export const TEXT_H = GLYPH_H * S;
export const text = (t: string): number => textWidth(t) * S;

export class Canvas {
  readonly png: PNG;

  constructor(readonly width: number, readonly height: number) {
    this.png = new PNG({ width, height });
    this.png.data.fill(255);
  }

  rect(x: number, y: number, w: number, h: number, [r, g, b]: Rgb): void {
    const { width, height } = this;
    for (let j = Math.max(0, Math.round(y)); j < Math.min(height, Math.round(y + h)); j++) {
      for (let i = Math.max(0, Math.round(x)); i < Math.min(width, Math.round(x + w)); i++) {
        const o = 4 * (j * width + i);
        this.png.data[o] = r;
        this.png.data[o + 1] = g;
        this.png.data[o + 2] = b;
        this.png.data[o + 3] = 255;
      }
    }
  }

  write(t: string, x: number, y: number, c: Rgb = [0, 0, 0]): void {
    rasterize(t, (i, j) => this.rect(x + i * S, y + j * S, S, S, c));
  }

  /** Legend entries (swatch + name) flowed left to right from (M, y), wrapping at the canvas width. */
  legend(keys: readonly string[], y: number): void {
    legendLayout(keys, this.width).items.forEach((at, i) => {
      this.rect(at.x, y + at.y, TEXT_H, TEXT_H, colour(i));
      this.write(keys[i], at.x + TEXT_H + 6, y + at.y);
    });
  }

  encode(): Buffer {
    return PNG.sync.write(this.png);
  }
}

/** Where the legend's entries go at a chart width, and its height. */
export function legendLayout(keys: readonly string[], width: number): { items: { x: number; y: number }[]; height: number } {
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
