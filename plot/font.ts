// The charts' one font, DejaVu Sans (regular and bold TTFs from the npm package dejavu-fonts-ttf): resvg draws text
// only with fonts it is given and a bare machine may have none, so the font ships as a dependency, and Vega lays
// text out with that font's advance widths (opentype.js) instead of its Node guess of 0.8 em a character, so
// titles, legends and labels get the room they take when drawn.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import opentype from 'opentype.js';

export const FONT_FAMILY = 'DejaVu Sans';
const FILES = { regular: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf' };

let paths: { regular: string; bold: string } | null = null;

/** The TTF paths, resolved where Node resolves packages from this module (its folder, then up the tree). */
function fontPaths(): { regular: string; bold: string } {
  if (paths) return paths;
  const require = createRequire(import.meta.url);
  try {
    const at = (f: string) => require.resolve(`dejavu-fonts-ttf/ttf/${f}`);
    paths = { regular: at(FILES.regular), bold: at(FILES.bold) };
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    throw new Error(`plot: the chart font (npm package dejavu-fonts-ttf) is missing; run 'npm ci' (${why})`);
  }
  return paths;
}

export const fontFiles = (): string[] => Object.values(fontPaths());

let faces: { regular: opentype.Font; bold: opentype.Font } | null = null;
const widths = new Map<string, number>();

/** What a text mark needs to be measured: Vega's item fields (size default 11, as Vega's). */
export interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
  /** Vega truncates text wider than this (with an ellipsis). */
  limit?: number;
}

/** Width in pixels of `text` drawn for `item`, capped at the item's limit: Vega's textMetrics.width contract. */
export function textWidth(item: TextItem, text: unknown): number {
  const size = item.fontSize ?? 11;
  const s = text == null ? '' : String(text).trim();
  if (!(size > 0) || !s) return 0;
  const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
  const key = `${bold ? 'b' : 'r'}${size} ${s}`;
  let w = widths.get(key);
  if (w === undefined) {
    if (!faces) {
      const p = fontPaths();
      const load = (f: string) => opentype.parse(new Uint8Array(readFileSync(f)).buffer);
      faces = { regular: load(p.regular), bold: load(p.bold) };
    }
    w = faces[bold ? 'bold' : 'regular'].getAdvanceWidth(s, size);
    widths.set(key, w);
  }
  return item.limit && item.limit > 0 ? Math.min(w, item.limit) : w;
}
