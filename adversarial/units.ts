// Perturbation sizes as researchers write them: pixel units like '8/255', or decimals like '0.031'.

/** Parses '8/255', '2.5/255' or '0.0314' into a number in [0, max]; throws naming the flag, the range and the forms. */
export function parsePixels(flag: string, v: string, max = 1): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(?:\/\s*([0-9]*\.?[0-9]+))?\s*$/.exec(v);
  const x = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!(Number.isFinite(x) && x >= 0 && x <= max)) {
    const range = max === Infinity ? '>= 0' : `in [0,${fmtPixels(max)}]`;
    throw new Error(`--${flag} must be a size ${range} as a fraction like 8/255 or a decimal like 0.031, got '${v}'`);
  }
  return x;
}

/** 0.0313... → '8/255' where it is a whole number of 1/255 steps inside (0, 1); other values as they are. */
export function fmtPixels(v: number): string {
  const k = v * 255;
  return v > 0 && v < 1 && Math.abs(k - Math.round(k)) < 1e-6 ? `${Math.round(k)}/255` : String(v);
}
