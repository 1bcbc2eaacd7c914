// Learning-rate schedules as pure functions of the SGD iteration. They are defined over the total number of
// iterations of the run, not epochs, so that free training's minibatch replays (m SGD steps per minibatch) count
// exactly like the plain steps of natural training or K-PGD, and a schedule means the same thing for every method.

export type Schedule =
  /** lr · gamma^(number of milestones passed); milestones are fractions of the run (free training: [0.5, 0.75], 0.1). */
  | { kind: 'multistep'; lr: number; milestones: number[]; gamma: number }
  /** Linear warm-up over `warmup` iterations to lr, then half a cosine from lr down to minLr (default 0). */
  | { kind: 'cosine'; lr: number; minLr?: number; warmup?: number }
  /** Piecewise linear 0 → lr (at fraction peakAt of the run) → 0, as in Wong et al., "Fast is better than free". */
  | { kind: 'cyclic'; lr: number; peakAt: number }
  | { kind: 'constant'; lr: number };

export const DEFAULT_MILESTONES = [0.5, 0.75];
export const DEFAULT_GAMMA = 0.1;
export const DEFAULT_PEAK = 0.4;

const fraction = (x: number): boolean => Number.isFinite(x) && x > 0 && x < 1;

function fail(s: Schedule, msg: string): never {
  throw new Error(`learning-rate schedule '${s.kind}': ${msg}`);
}

/** Checks a schedule's parameters (lrAt does this on every call; call it once up front for an early error). */
export function validateSchedule(s: Schedule): void {
  if (!(Number.isFinite(s.lr) && s.lr > 0)) fail(s, `lr must be a positive number, got ${s.lr}`);
  switch (s.kind) {
    case 'multistep':
      if (!s.milestones.every(fraction) || s.milestones.some((m, i) => i > 0 && m <= s.milestones[i - 1])) {
        fail(s, `milestones [${s.milestones.join(', ')}] must be increasing fractions of the run, in (0, 1)`);
      }
      if (!(Number.isFinite(s.gamma) && s.gamma > 0)) fail(s, `gamma must be a positive number, got ${s.gamma}`);
      return;
    case 'cosine':
      if (s.minLr !== undefined && !(s.minLr >= 0 && s.minLr <= s.lr))
        fail(s, `minLr ${s.minLr} must be in [0, lr = ${s.lr}]`);
      if (s.warmup !== undefined && !(Number.isInteger(s.warmup) && s.warmup >= 0)) {
        fail(s, `warmup must be a non-negative integer number of iterations, got ${s.warmup}`);
      }
      return;
    case 'cyclic':
      if (!fraction(s.peakAt)) fail(s, `peakAt must be a fraction of the run in (0, 1), got ${s.peakAt}`);
      return;
    case 'constant':
      return;
    default:
      throw new Error(`unknown learning-rate schedule kind '${(s as { kind: unknown }).kind}'`);
  }
}

/**
 * The learning rate for SGD iteration `iteration` (0-based, counting replays) of a run of `totalIterations`.
 * Milestone and warm-up boundaries: the first iteration i with i/total >= fraction is already decayed.
 */
export function lrAt(s: Schedule, iteration: number, totalIterations: number): number {
  validateSchedule(s);
  if (!(Number.isInteger(totalIterations) && totalIterations > 0))
    fail(s, `total iterations must be a positive integer, got ${totalIterations}`);
  if (!(Number.isInteger(iteration) && iteration >= 0 && iteration < totalIterations)) {
    fail(s, `iteration ${iteration} is outside the run's [0, ${totalIterations})`);
  }
  // i/total, not milestone·total: for a milestone that is exactly k/total both round to the same double.
  const progress = iteration / totalIterations;
  switch (s.kind) {
    case 'multistep':
      return s.milestones.reduce((lr, m) => (progress >= m ? lr * s.gamma : lr), s.lr);
    case 'cosine': {
      const warmup = s.warmup ?? 0;
      if (warmup >= totalIterations)
        fail(s, `warmup of ${warmup} iterations leaves nothing of a ${totalIterations}-iteration run`);
      // Warm-up steps take lr·1/w, ..., lr·w/w: the first step already moves, the last reaches lr.
      if (iteration < warmup) return (s.lr * (iteration + 1)) / warmup;
      const minLr = s.minLr ?? 0;
      const p = (iteration - warmup) / (totalIterations - warmup);
      return minLr + ((s.lr - minLr) * (1 + Math.cos(Math.PI * p))) / 2;
    }
    case 'cyclic': {
      // Wong et al. evaluate the schedule at the end of each step, t = (i+1)/total: the first step is nonzero
      // and the last one reaches 0.
      const t = (iteration + 1) / totalIterations;
      return t <= s.peakAt ? (s.lr * t) / s.peakAt : (s.lr * (1 - t)) / (1 - s.peakAt);
    }
    case 'constant':
      return s.lr;
  }
}

const FORMS =
  'multistep (decay x0.1 at 50% and 75% of the run), multistep:F1,F2,... (increasing fractions in (0,1)), ' +
  'cosine, cyclic (peak at 40%), cyclic:F (peak at fraction F in (0,1)), constant';

/** Parses a CLI schedule spec ('multistep', 'multistep:0.5,0.75', 'cosine', 'cyclic', 'cyclic:0.4', 'constant'). */
export function parseSchedule(spec: string, lr: number): Schedule {
  const bad = (why: string): never => {
    throw new Error(`bad learning-rate schedule '${spec}'${why ? ` (${why})` : ''}: expected one of ${FORMS}`);
  };
  const [kind, arg, ...rest] = spec.trim().toLowerCase().split(':');
  if (rest.length > 0) bad("too many ':'");
  const numbers = (s: string): number[] =>
    s.split(',').map((x) => {
      const v = x.trim() === '' ? NaN : Number(x);
      if (!fraction(v)) bad(`'${x}' is not a fraction in (0,1)`);
      return v;
    });
  let schedule: Schedule;
  switch (kind) {
    case 'multistep': {
      const milestones = arg === undefined ? [...DEFAULT_MILESTONES] : numbers(arg);
      if (milestones.some((m, i) => i > 0 && m <= milestones[i - 1])) bad('milestones must increase');
      schedule = { kind, lr, milestones, gamma: DEFAULT_GAMMA };
      break;
    }
    case 'cyclic': {
      const peaks = arg === undefined ? [DEFAULT_PEAK] : numbers(arg);
      if (peaks.length !== 1) bad('one peak position');
      schedule = { kind, lr, peakAt: peaks[0] };
      break;
    }
    case 'cosine':
    case 'constant':
      if (arg !== undefined) bad(`'${kind}' takes no argument`);
      schedule = { kind, lr };
      break;
    default:
      return bad('');
  }
  validateSchedule(schedule);
  return schedule;
}
