import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertThrows } from './helpers.js';
import { DEFAULT_MILESTONES, lrAt, parseSchedule, validateSchedule, type Schedule } from '../nn/schedule.js';

// Pure CPU tests: no device is opened.

function close(actual: number, expected: number, what: string, rel = 1e-12): void {
  const tol = rel * Math.max(1, Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tol)) assert.unreachable(`${what}: expected ${expected}, got ${actual}`);
}

const curve = (s: Schedule, total: number): number[] => Array.from({ length: total }, (_, i) => lrAt(s, i, total));

// ---------------------------------------------------------------------------------------------------------------
const multistep = suite('schedule: multistep');

multistep('default milestones 50% / 75%, gamma 0.1, over 100 iterations', () => {
  const s = parseSchedule('multistep', 0.1);
  // Hand-computed: [0, 50) -> 0.1, [50, 75) -> 0.01, [75, 100) -> 0.001.
  const cases: [number, number][] = [
    [0, 0.1],
    [1, 0.1],
    [49, 0.1],
    [50, 0.01],
    [51, 0.01],
    [74, 0.01],
    [75, 0.001],
    [76, 0.001],
    [99, 0.001],
  ];
  for (const [i, want] of cases) close(lrAt(s, i, 100), want, `iteration ${i}`);
});

multistep('gamma powers are exact with gamma = 0.5 and three milestones', () => {
  const s: Schedule = { kind: 'multistep', lr: 0.8, milestones: [0.25, 0.5, 0.75], gamma: 0.5 };
  // total 8: iterations 0,1 -> 0.8; 2,3 -> 0.4; 4,5 -> 0.2; 6,7 -> 0.1 (all exact in binary).
  assert.equal(curve(s, 8), [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1]);
});

multistep(
  'a milestone that is exactly k/total decays at iteration k, even where milestone*total rounds above k',
  () => {
    // In doubles 0.07*100 = 7.000000000000001 and 0.55*100 = 55.00000000000001, yet 7/100 === 0.07 and 55/100 === 0.55:
    // the decays must land on iterations 7 and 55, not 8 and 56.
    assert.ok(0.07 * 100 > 7 && 0.55 * 100 > 55, 'premise');
    const s = parseSchedule('multistep:0.07,0.55', 1);
    const decades = curve(s, 100).map((v) => Math.round(Math.log10(v)));
    assert.equal(
      [6, 7, 8, 54, 55, 56].map((i) => decades[i]),
      [0, -1, -1, -1, -2, -2],
    );
    assert.is(decades.indexOf(-1), 7);
    assert.is(decades.indexOf(-2), 55);
  },
);

multistep('matches an integer-arithmetic reference for many run lengths and milestone sets', () => {
  // Milestones given in whole percent p: "iteration i is past p" <=> 100*i >= p*total, exact in integers.
  const sets = [
    [30, 60],
    [10, 70, 90],
    [50, 75],
    [1, 99],
    [33, 34, 67],
    [7, 55],
    [14, 28, 56],
  ];
  const totals = [1, 3, 7, 10, 20, 99, 100, 250, 1000, 1234];
  for (const percents of sets) {
    const s: Schedule = { kind: 'multistep', lr: 0.2, milestones: percents.map((p) => p / 100), gamma: 0.1 };
    for (const total of totals) {
      for (let i = 0; i < total; i++) {
        const passed = percents.filter((p) => 100 * i >= p * total).length;
        close(lrAt(s, i, total), 0.2 * 0.1 ** passed, `milestones ${percents}% total ${total} iteration ${i}`);
      }
    }
  }
});

multistep('validation: decreasing / out-of-range milestones and bad gamma / lr are rejected', () => {
  const base = { kind: 'multistep' as const, lr: 0.1, gamma: 0.1 };
  assertThrows(
    () => validateSchedule({ ...base, milestones: [0.6, 0.3] }),
    /milestones \[0\.6, 0\.3\] must be increasing/,
  );
  assertThrows(() => validateSchedule({ ...base, milestones: [0.5, 0.5] }), /must be increasing/);
  assertThrows(() => validateSchedule({ ...base, milestones: [0, 0.5] }), /in \(0, 1\)/);
  assertThrows(() => validateSchedule({ ...base, milestones: [0.5, 1] }), /in \(0, 1\)/);
  assertThrows(
    () => validateSchedule({ ...base, milestones: [0.5], gamma: 0 }),
    /gamma must be a positive number, got 0/,
  );
  assertThrows(() => validateSchedule({ ...base, milestones: [0.5], gamma: NaN }), /gamma/);
  assertThrows(
    () => validateSchedule({ ...base, milestones: [0.5], lr: 0 }),
    /'multistep'.*lr must be a positive number, got 0/,
  );
  assertThrows(() => validateSchedule({ ...base, milestones: [0.5], lr: -0.1 }), /lr must be a positive/);
  assertThrows(() => validateSchedule({ ...base, milestones: [0.5], lr: Infinity }), /lr must be a positive/);
  // lrAt validates too.
  assertThrows(() => lrAt({ ...base, milestones: [0.6, 0.3] }, 0, 10), /must be increasing/);
});

multistep.run();

// ---------------------------------------------------------------------------------------------------------------
const cosine = suite('schedule: cosine');

cosine('no warm-up: lr at start, lr/2 in the middle, a quarter in: (1 + cos(pi/4))/2, near 0 at the end', () => {
  const s = parseSchedule('cosine', 0.1);
  close(lrAt(s, 0, 100), 0.1, 'start');
  close(lrAt(s, 25, 100), 0.1 * 0.8535533905932737, 'quarter'); // (1 + 1/sqrt(2)) / 2
  close(lrAt(s, 50, 100), 0.05, 'middle');
  close(lrAt(s, 75, 100), 0.1 * 0.14644660940672624, 'three quarters'); // (1 - 1/sqrt(2)) / 2
  // Last iteration is at progress 99/100: (1 + cos(0.99 pi)) / 2 = (1 - cos(0.01 pi)) / 2 = sin^2(0.005 pi).
  close(lrAt(s, 99, 100), 0.1 * Math.sin(0.005 * Math.PI) ** 2, 'end', 1e-9);
  assert.ok(lrAt(s, 99, 100) < 3e-5 && lrAt(s, 99, 100) > 0);
});

cosine('minLr: middle = (lr + minLr)/2, never below minLr, strictly decreasing', () => {
  const s: Schedule = { kind: 'cosine', lr: 0.1, minLr: 0.01 };
  close(lrAt(s, 0, 200), 0.1, 'start');
  close(lrAt(s, 100, 200), (0.1 + 0.01) / 2, 'middle');
  const c = curve(s, 200);
  for (let i = 1; i < c.length; i++) assert.ok(c[i] < c[i - 1], `decreasing at ${i}`);
  assert.ok(c[199] >= 0.01 && c[199] - 0.01 < 1e-5, `end ${c[199]}`);
});

cosine('linear warm-up lr*(i+1)/w, then the cosine over the remaining iterations', () => {
  const lr = 0.2;
  const minLr = 0.02;
  const s: Schedule = { kind: 'cosine', lr, minLr, warmup: 10 };
  const total = 110; // 10 warm-up + 100 cosine
  // Warm-up, hand-computed: 0.02, 0.04, ..., 0.2.
  for (let i = 0; i < 10; i++) close(lrAt(s, i, total), 0.02 * (i + 1), `warm-up ${i}`);
  close(lrAt(s, 10, total), lr, 'first cosine step'); // progress 0
  close(lrAt(s, 35, total), minLr + (lr - minLr) * 0.8535533905932737, 'quarter of the cosine');
  close(lrAt(s, 60, total), (lr + minLr) / 2, 'middle of the cosine');
  close(lrAt(s, 109, total), minLr + (lr - minLr) * Math.sin(0.005 * Math.PI) ** 2, 'end', 1e-9);
  // warm-up of 1 iteration: the first step already has the full lr.
  close(lrAt({ kind: 'cosine', lr, warmup: 1 }, 0, 5), lr, 'warm-up 1');
});

cosine('validation: warm-up covering the run, bad minLr / warm-up', () => {
  assertThrows(
    () => lrAt({ kind: 'cosine', lr: 0.1, warmup: 10 }, 0, 10),
    /warmup of 10 iterations leaves nothing of a 10-iteration run/,
  );
  assertThrows(
    () => validateSchedule({ kind: 'cosine', lr: 0.1, minLr: 0.2 }),
    /minLr 0\.2 must be in \[0, lr = 0\.1\]/,
  );
  assertThrows(() => validateSchedule({ kind: 'cosine', lr: 0.1, minLr: -0.01 }), /minLr/);
  assertThrows(() => validateSchedule({ kind: 'cosine', lr: 0.1, minLr: NaN }), /minLr/);
  assertThrows(
    () => validateSchedule({ kind: 'cosine', lr: 0.1, warmup: 2.5 }),
    /warmup must be a non-negative integer/,
  );
  assertThrows(() => validateSchedule({ kind: 'cosine', lr: 0.1, warmup: -1 }), /warmup/);
  // minLr = lr is allowed: a constant curve.
  assert.equal(curve({ kind: 'cosine', lr: 0.1, minLr: 0.1 }, 5), [0.1, 0.1, 0.1, 0.1, 0.1]);
});

cosine.run();

// ---------------------------------------------------------------------------------------------------------------
const cyclic = suite('schedule: cyclic');

cyclic('hand-computed triangle over 10 iterations, peak at 40%', () => {
  const s = parseSchedule('cyclic', 0.2);
  // Evaluated at the end of each step, t = (i+1)/10: up 0.05/step to 0.2 at t = 0.4, then down 0.2/6 per step to 0.
  const want = [0.05, 0.1, 0.15, 0.2, 0.2 * (5 / 6), 0.2 * (4 / 6), 0.2 * (3 / 6), 0.2 * (2 / 6), 0.2 * (1 / 6), 0];
  const got = curve(s, 10);
  for (let i = 0; i < 10; i++) close(got[i], want[i], `iteration ${i}`);
  assert.is(got[9], 0, 'ends exactly at 0');
});

cyclic('piecewise linear: 0 at t = 0, lr at the peak, 0 at the end, constant slope on each side', () => {
  const lr = 0.3;
  const total = 1000;
  for (const [spec, peak] of [
    ['cyclic', 0.4],
    ['cyclic:0.25', 0.25],
    ['cyclic:0.5', 0.5],
  ] as const) {
    const s = parseSchedule(spec, lr);
    const c = curve(s, total);
    const peakIter = Math.round(peak * total) - 1; // t = (i+1)/total = peak
    close(c[peakIter], lr, `${spec} peak`);
    close(Math.max(...c), lr, `${spec} max`);
    assert.is(c.indexOf(Math.max(...c)), peakIter, `${spec} argmax`);
    assert.is(c[total - 1], 0, `${spec} end`);
    // Extrapolating the rising line one step back from the first step lands on 0: the curve starts at 0.
    close(c[0] - (c[1] - c[0]), 0, `${spec} start`, 1e-12);
    close(c[0], lr / (peak * total), `${spec} first step`);
    // Slopes (hand formula): +lr/(peak*total) per step up to the peak, -lr/((1-peak)*total) after.
    for (let i = 1; i < total; i++) {
      const slope = i <= peakIter ? lr / (peak * total) : -lr / ((1 - peak) * total);
      close(c[i] - c[i - 1], slope, `${spec} slope at ${i}`, 1e-9);
    }
  }
});

cyclic('validation: peakAt must be in (0, 1)', () => {
  assertThrows(
    () => validateSchedule({ kind: 'cyclic', lr: 0.1, peakAt: 1 }),
    /peakAt must be a fraction of the run in \(0, 1\), got 1/,
  );
  assertThrows(() => validateSchedule({ kind: 'cyclic', lr: 0.1, peakAt: 0 }), /peakAt/);
  assertThrows(() => validateSchedule({ kind: 'cyclic', lr: 0.1, peakAt: NaN }), /peakAt/);
});

cyclic.run();

// ---------------------------------------------------------------------------------------------------------------
const misc = suite('schedule: constant, ranges, free training');

misc('constant is lr everywhere', () => {
  const s = parseSchedule('constant', 0.05);
  assert.equal(curve(s, 7), [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]);
  assert.is(lrAt(s, 0, 1), 0.05);
});

misc('iteration and total out of range are rejected for every kind', () => {
  const all = ['multistep', 'cosine', 'cyclic', 'constant'].map((k) => parseSchedule(k, 0.1));
  for (const s of all) {
    assertThrows(() => lrAt(s, -1, 10), new RegExp(`'${s.kind}'`), /iteration -1 is outside the run's \[0, 10\)/);
    assertThrows(() => lrAt(s, 10, 10), /iteration 10 is outside the run's \[0, 10\)/);
    assertThrows(() => lrAt(s, 11, 10), /iteration 11 is outside/);
    assertThrows(() => lrAt(s, 2.5, 10), /iteration 2\.5 is outside/);
    assertThrows(() => lrAt(s, NaN, 10), /iteration NaN is outside/);
    assertThrows(() => lrAt(s, 0, 0), /total iterations must be a positive integer, got 0/);
    assertThrows(() => lrAt(s, 0, 1.5), /total iterations must be a positive integer, got 1\.5/);
    assertThrows(() => lrAt(s, 0, Infinity), /total iterations must be a positive integer/);
    // Boundaries themselves are fine.
    assert.ok(Number.isFinite(lrAt(s, 0, 10)) && Number.isFinite(lrAt(s, 9, 10)));
  }
});

misc('free training with m replays has the same lr curve as natural training over the same iteration count', () => {
  // Natural: E epochs x B minibatches, one SGD step each. Free: E/m epochs x B minibatches x m replays.
  const E = 8;
  const B = 25;
  const total = E * B; // 200 iterations either way
  const schedules: Schedule[] = [
    parseSchedule('multistep', 0.1),
    parseSchedule('multistep:0.3,0.6', 0.1),
    { kind: 'cosine', lr: 0.1, minLr: 0.001, warmup: 12 },
    parseSchedule('cyclic', 0.2),
    parseSchedule('constant', 0.1),
  ];
  for (const m of [1, 2, 4, 8]) {
    for (const s of schedules) {
      const natural: number[] = [];
      for (let e = 0; e < E; e++) for (let b = 0; b < B; b++) natural.push(lrAt(s, e * B + b, total));
      const free: number[] = [];
      let iteration = 0;
      for (let e = 0; e < E / m; e++) {
        for (let b = 0; b < B; b++) for (let r = 0; r < m; r++) free.push(lrAt(s, iteration++, (E / m) * B * m));
      }
      assert.equal(free, natural, `${s.kind} with m = ${m}`);
    }
  }
  // Concretely, for m = 4 (2 free epochs): the default multistep decays exactly at the start of free epoch 2
  // (iteration 100 = 50% of 200) and again at replay 0 of minibatch 12 of epoch 2 (iteration 150 = 75%).
  const s = parseSchedule('multistep', 0.1);
  const at = (e: number, b: number, r: number) => lrAt(s, (e * B + b) * 4 + r, total);
  close(at(0, 24, 3), 0.1, 'free epoch 1, last replay');
  close(at(1, 0, 0), 0.01, 'free epoch 2, first replay');
  close(at(1, 12, 1), 0.01, 'iteration 149');
  close(at(1, 12, 2), 0.001, 'iteration 150');
});

misc('a milestone can fall between two replays of the same minibatch', () => {
  // 1 free epoch of 5 minibatches x 4 replays = 20 iterations; milestone 0.3 -> iteration 6 = minibatch 1, replay 2.
  const s: Schedule = { kind: 'multistep', lr: 1, milestones: [0.3], gamma: 0.5 };
  const byMinibatch = [0, 1, 2, 3, 4].map((b) => [0, 1, 2, 3].map((r) => lrAt(s, b * 4 + r, 20)));
  assert.equal(byMinibatch, [
    [1, 1, 1, 1],
    [1, 1, 0.5, 0.5],
    [0.5, 0.5, 0.5, 0.5],
    [0.5, 0.5, 0.5, 0.5],
    [0.5, 0.5, 0.5, 0.5],
  ]);
});

misc.run();

// ---------------------------------------------------------------------------------------------------------------
const parse = suite('schedule: parseSchedule');

parse('accepts every documented form', () => {
  assert.equal(parseSchedule('multistep', 0.1), { kind: 'multistep', lr: 0.1, milestones: [0.5, 0.75], gamma: 0.1 });
  assert.equal(parseSchedule('multistep:0.3,0.6', 0.2), {
    kind: 'multistep',
    lr: 0.2,
    milestones: [0.3, 0.6],
    gamma: 0.1,
  });
  assert.equal(parseSchedule('multistep:0.9', 0.2), { kind: 'multistep', lr: 0.2, milestones: [0.9], gamma: 0.1 });
  assert.equal(parseSchedule('multistep:0.1, 0.5 ,0.9', 0.2), {
    kind: 'multistep',
    lr: 0.2,
    milestones: [0.1, 0.5, 0.9],
    gamma: 0.1,
  });
  assert.equal(parseSchedule('cosine', 0.1), { kind: 'cosine', lr: 0.1 });
  assert.equal(parseSchedule('cyclic', 0.2), { kind: 'cyclic', lr: 0.2, peakAt: 0.4 });
  assert.equal(parseSchedule('cyclic:0.25', 0.2), { kind: 'cyclic', lr: 0.2, peakAt: 0.25 });
  assert.equal(parseSchedule('constant', 0.01), { kind: 'constant', lr: 0.01 });
  // Case and surrounding whitespace are ignored.
  assert.equal(parseSchedule('  CoSiNe ', 0.1), { kind: 'cosine', lr: 0.1 });
  assert.equal(parseSchedule('Cyclic:0.3', 0.1), { kind: 'cyclic', lr: 0.1, peakAt: 0.3 });
});

parse('the default milestones are copied, not shared', () => {
  const s = parseSchedule('multistep', 0.1);
  if (s.kind !== 'multistep') throw new Error('kind');
  s.milestones.push(0.9);
  assert.equal(DEFAULT_MILESTONES, [0.5, 0.75]);
  assert.equal((parseSchedule('multistep', 0.1) as { milestones: number[] }).milestones, [0.5, 0.75]);
});

parse('rejects bad specs with a message naming the spec and the valid forms', () => {
  const forms = [/multistep \(/, /multistep:F1,F2/, /cosine/, /cyclic \(/, /cyclic:F/, /constant/];
  const cases: [string, RegExp][] = [
    ['multistep:0.6,0.3', /milestones must increase/],
    ['multistep:0.5,0.5', /milestones must increase/],
    ['multistep:0,0.5', /'0' is not a fraction in \(0,1\)/],
    ['multistep:0.5,1', /'1' is not a fraction/],
    ['multistep:', /'' is not a fraction/],
    ['multistep:0.5,', /'' is not a fraction/],
    ['multistep:abc', /'abc' is not a fraction/],
    ['multistep:0.3:0.6', /too many ':'/],
    ['cyclic:1.5', /'1\.5' is not a fraction/],
    ['cyclic:0', /'0' is not a fraction/],
    ['cyclic:-0.2', /'-0\.2' is not a fraction/],
    ['cyclic:0.2,0.3', /one peak position/],
    ['cyclic:', /is not a fraction/],
    ['cosine:1', /'cosine' takes no argument/],
    ['constant:0.1', /'constant' takes no argument/],
    ['foo', /^bad learning-rate schedule 'foo': expected one of/],
    ['', /^bad learning-rate schedule '': expected one of/],
    ['step', /expected one of/],
  ];
  for (const [spec, why] of cases) {
    const escaped = spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assertThrows(() => parseSchedule(spec, 0.1), new RegExp(`bad learning-rate schedule '${escaped}'`), why, ...forms);
  }
});

parse('rejects a bad lr through validation', () => {
  assertThrows(() => parseSchedule('cosine', 0), /lr must be a positive number, got 0/);
  assertThrows(() => parseSchedule('multistep', -1), /lr must be a positive number, got -1/);
  assertThrows(() => parseSchedule('constant', NaN), /lr must be a positive number, got NaN/);
});

parse.run();
