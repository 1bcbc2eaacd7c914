// Host-side randomness: counter-based 32-bit generators, so that every stream is a function of (seed, counter)
// and a resumed run draws the same numbers (data order, perturbation-store noise, Square's queries).

/** A 32-bit hash of (seed, epoch) to seed each epoch's generator independently (and any other pair of counters). */
export function mix(seed: number, epoch: number): number {
  let h = Math.imul(seed ^ 0x3c6ef372, 0x9e3779b1) ^ Math.imul(epoch + 0x165667b1, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Mulberry32: uniform 32-bit integers from a 32-bit state. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform numbers in [0, 1), a function of (seed, stream): host-side randomness such as Square's queries. */
export function hostUniform(seed: number, stream: number): () => number {
  const next = mulberry32(mix(seed, stream));
  return () => next() / 2 ** 32;
}
