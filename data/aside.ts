// Files that are kept rather than deleted (a damaged cache file, a cut metrics line, a damaged checkpoint) are
// renamed beside the original with why and when: NAME.<why>-<UTC time>, never over an existing file.
import { existsSync } from 'node:fs';

/** A free path `path`.<why>-<ISO 8601 basic UTC time> (20261201T084136Z: no colons), with -1, -2, ... if taken. */
export function asidePath(path: string, why: string): string {
  const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
  let aside = `${path}.${why}-${stamp}`;
  for (let k = 1; existsSync(aside); k++) aside = `${path}.${why}-${stamp}-${k}`;
  return aside;
}
