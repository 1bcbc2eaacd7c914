// Wall-clock timing of GPU work: each repetition ends when the GPU has finished it, and the warm-up runs first
// so pipeline compilation and buffer-pool growth are not timed.

export interface WallTime {
  /** Median milliseconds per repetition: robust to other processes sharing the machine. */
  ms: number;
  bestMs: number;
  reps: number;
}

export async function wallTime(
  run: () => void,
  sync: () => Promise<void>,
  reps: number,
  warmup = 1,
): Promise<WallTime> {
  repeat(warmup, run);
  await sync();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    await sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const ms = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { ms, bestMs: times[0], reps };
}

export function repeat(n: number, run: () => void): void {
  for (let i = 0; i < n; i++) run();
}
