// A 3x5 pixel font for chart labels, so the PNG needs no font files: each glyph is 5 rows of 3 bits, top row
// first. Lower case prints as upper case; characters without a glyph print as blanks.
const GLYPHS: Record<string, string> = {
  A: '010101111101101', B: '110101110101110', C: '011100100100011', D: '110101101101110', E: '111100110100111',
  F: '111100110100100', G: '011100101101011', H: '101101111101101', I: '111010010010111', J: '001001001101010',
  K: '101101110101101', L: '100100100100111', M: '101111111101101', N: '110101101101101', O: '010101101101010',
  P: '110101110100100', Q: '010101101110011', R: '110101110101101', S: '011100010001110', T: '111010010010010',
  U: '101101101101111', V: '101101101101010', W: '101101111111101', X: '101101010101101', Y: '101101010010010',
  Z: '111001010100111', '0': '111101101101111', '1': '010110010010111', '2': '110001010100111', '3': '110001010001110',
  '4': '101101111001001', '5': '111100110001110', '6': '011100111101111', '7': '111001010010010', '8': '111101111101111',
  '9': '111101111001110', '-': '000000111000000', '.': '000000000000010', '/': '001001010100100', ':': '000010000010000',
  '%': '101001010100101', '(': '010100100100010', ')': '010001001001010', '=': '000111000111000', '+': '000010111010000',
  ',': '000000000010100', _: '000000000000111', '^': '010101000000000', '~': '000011110000000',
};
GLYPHS['×'] = GLYPHS.X;

export const GLYPH_W = 3;
export const GLYPH_H = 5;

/** Calls `dot(x, y)` for every lit font pixel of `text`, glyphs one pixel apart, origin at the top left. */
export function rasterize(text: string, dot: (x: number, y: number) => void): void {
  [...text.toUpperCase()].forEach((ch, i) => {
    const g = GLYPHS[ch];
    if (!g) return;
    for (let k = 0; k < g.length; k++) if (g[k] === '1') dot(i * (GLYPH_W + 1) + (k % GLYPH_W), Math.floor(k / GLYPH_W));
  });
}

/** Width in font pixels of `text`. */
export const textWidth = (text: string): number => Math.max(0, text.length * (GLYPH_W + 1) - 1);
