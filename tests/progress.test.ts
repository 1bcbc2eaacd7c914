import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertThrows } from './helpers.js';
import { Progress, formatDuration, formatRate, type ProgressStream } from '../train/progress.js';

// Pure CPU tests: no device is opened. A fake stream records every write; the clock is a variable we move.

class FakeStream implements ProgressStream {
  chunks: string[] = [];
  constructor(
    public isTTY?: boolean,
    public columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
  /** Complete lines written so far (non-TTY output). */
  get lines(): string[] {
    return this.text.split('\n').slice(0, -1);
  }
}

function fakeClock(startMs: number) {
  const c = { now: startMs, fn: () => c.now };
  return c;
}

const T0 = 1_700_000_000_000; // an arbitrary epoch-ms start: output must only depend on time since construction

/** Parses "epoch e/E step s/S" out of a line into the overall 1-based step. */
function overallStep(line: string, stepsPerEpoch: number): number {
  const m = /epoch (\d+)\/\d+ step (\d+)\/\d+/.exec(line);
  if (!m) throw new Error(`no epoch/step in ${JSON.stringify(line)}`);
  return (Number(m[1]) - 1) * stepsPerEpoch + Number(m[2]);
}

// ---------------------------------------------------------------------------------------------------------------
const fmt = suite('progress: formatting');

fmt('formatDuration: hh:mm:ss with rounding, hours past 99, unknown', () => {
  const cases: [number, string][] = [
    [0, '00:00:00'],
    [0.4, '00:00:00'],
    [1, '00:00:01'],
    [59, '00:00:59'],
    [59.4, '00:00:59'],
    [59.5, '00:01:00'],
    [60, '00:01:00'],
    [61, '00:01:01'],
    [599, '00:09:59'],
    [3599, '00:59:59'],
    [3599.6, '01:00:00'],
    [3600, '01:00:00'],
    [3661, '01:01:01'],
    [86399, '23:59:59'],
    [90061, '25:01:01'],
    [359999, '99:59:59'],
    [360000, '100:00:00'],
    [3600 * 1234 + 5, '1234:00:05'],
  ];
  for (const [s, want] of cases) assert.is(formatDuration(s), want, `${s} s`);
  for (const s of [-1, -0.1, NaN, Infinity, -Infinity]) assert.is(formatDuration(s), '--:--:--', `${s}`);
});

fmt('formatRate: about three significant digits, k / M suffixes, unknown', () => {
  const cases: [number, string][] = [
    [0, '0.00 img/s'],
    [0.004, '0.00 img/s'],
    [0.52, '0.52 img/s'],
    [1, '1.00 img/s'],
    [9.99, '9.99 img/s'],
    [9.995, '10.0 img/s'],
    [10, '10.0 img/s'],
    [12.34, '12.3 img/s'],
    [64, '64.0 img/s'],
    [99.94, '99.9 img/s'],
    [99.95, '100 img/s'],
    [100, '100 img/s'],
    [845.4, '845 img/s'],
    [999.6, '1000 img/s'],
    [9999.4, '9999 img/s'],
    [9999.5, '10.0k img/s'],
    [12345, '12.3k img/s'],
    [123456, '123k img/s'],
    [999_499, '999k img/s'],
    [999_500, '1.00M img/s'],
    [1_234_567, '1.23M img/s'],
    [98_700_000, '98.7M img/s'],
  ];
  for (const [r, want] of cases) assert.is(formatRate(r), want, `${r}`);
  for (const r of [NaN, -1, Infinity]) assert.is(formatRate(r), '- img/s', `${r}`);
  assert.is(formatRate(3, 'step/s'), '3.00 step/s');
  assert.is(formatRate(NaN, 'it/s'), '- it/s');
});

fmt.run();

// ---------------------------------------------------------------------------------------------------------------
const ctor = suite('progress: constructor');

ctor('rejects epochs / stepsPerEpoch that are not positive integers', () => {
  const stream = new FakeStream(false);
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assertThrows(
      () => new Progress({ stream, epochs: bad, stepsPerEpoch: 10 }),
      new RegExp(`progress: epochs must be a positive integer, got ${bad}`),
    );
    assertThrows(
      () => new Progress({ stream, epochs: 3, stepsPerEpoch: bad }),
      new RegExp(`progress: stepsPerEpoch must be a positive integer, got ${bad}`),
    );
  }
  new Progress({ stream, epochs: 1, stepsPerEpoch: 1 });
  assert.equal(stream.chunks, [], 'constructing writes nothing');
});

ctor.run();

// ---------------------------------------------------------------------------------------------------------------
const plain = suite('progress: plain lines (not a TTY)');

plain('a line every intervalSeconds, plus the first step and every end of epoch; exact text', () => {
  // 2 epochs x 100 steps, one step per second, 64 images per step: 64.0 img/s, ETA = (200 - k) s after step k.
  const stream = new FakeStream(false);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 2, stepsPerEpoch: 100, intervalSeconds: 10, clock: clock.fn });
  for (let k = 1; k <= 200; k++) {
    clock.now = T0 + 1000 * k;
    p.update({ epoch: Math.ceil(k / 100), step: ((k - 1) % 100) + 1, images: 64 * k, loss: 2 / k, accuracy: k / 200 });
  }
  const lines = stream.lines;
  // First step; then 10 s after the last line (11, 21, ..., 91); end of epoch 1 (100) restarts the 10 s clock
  // (110, ..., 190); end of epoch 2 (200).
  const want = [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200];
  assert.equal(
    lines.map((l) => overallStep(l, 100)),
    want,
  );
  assert.not.match(stream.text, /\r/, 'no carriage returns in a log');
  assert.ok(stream.text.endsWith('\n'));
  // Hand-computed lines: elapsed k s, 64 img/s, loss 2/k, accuracy k/200, ETA 200-k s.
  assert.is(lines[0], '[00:00:01] epoch 1/2 step 1/100 | 64.0 img/s | loss 2.0000 | acc 0.5% | ETA 00:03:19');
  assert.is(lines[1], '[00:00:11] epoch 1/2 step 11/100 | 64.0 img/s | loss 0.1818 | acc 5.5% | ETA 00:03:09');
  assert.is(lines[10], '[00:01:40] epoch 1/2 step 100/100 | 64.0 img/s | loss 0.0200 | acc 50.0% | ETA 00:01:40');
  assert.is(lines[11], '[00:01:50] epoch 2/2 step 10/100 | 64.0 img/s | loss 0.0182 | acc 55.0% | ETA 00:01:30');
  assert.is(lines[20], '[00:03:20] epoch 2/2 step 100/100 | 64.0 img/s | loss 0.0100 | acc 100.0% | ETA 00:00:00');
  // Everything is already shown: done() adds nothing.
  const before = stream.chunks.length;
  p.done();
  assert.is(stream.chunks.length, before);
});

plain('intervalSteps prints every N overall steps (counted from the last line), independent of time', () => {
  const stream = new FakeStream(false);
  const clock = fakeClock(T0);
  const p = new Progress({
    stream,
    epochs: 2,
    stepsPerEpoch: 100,
    intervalSteps: 25,
    intervalSeconds: 1e6,
    clock: clock.fn,
  });
  for (let k = 1; k <= 200; k++) {
    clock.now = T0 + 10 * k;
    p.update({ epoch: Math.ceil(k / 100), step: ((k - 1) % 100) + 1, images: 128 * k, loss: 1, accuracy: 0.5 });
  }
  // First line at 1, then 26, 51, 76; the end-of-epoch line at 100 resets the count: 125, 150, 175, 200.
  assert.equal(
    stream.lines.map((l) => overallStep(l, 100)),
    [1, 26, 51, 76, 100, 125, 150, 175, 200],
  );
  // 128 images per 10 ms = 12800 img/s; ETA after step 26 = 0.26 s * 174 / 26 = 1.74 s -> 00:00:02.
  assert.is(stream.lines[1], '[00:00:00] epoch 1/2 step 26/100 | 12.8k img/s | loss 1.0000 | acc 50.0% | ETA 00:00:02');
});

plain('intervalSteps and intervalSeconds together: whichever comes first', () => {
  const stream = new FakeStream(false);
  const clock = fakeClock(T0);
  const p = new Progress({
    stream,
    epochs: 1,
    stepsPerEpoch: 1000,
    intervalSteps: 100,
    intervalSeconds: 5,
    clock: clock.fn,
  });
  // Steps take 1 s each up to step 20, then 10 ms each.
  let t = 0;
  for (let k = 1; k <= 300; k++) {
    t += k <= 20 ? 1000 : 10;
    clock.now = T0 + t;
    p.update({ epoch: 1, step: k, images: k, loss: 1, accuracy: 1 });
  }
  // Time: 1, 6, 11, 16 (every 5 s). From step 21 on, 100 steps take 1 s, so the step count is due first:
  // 116 (at 20.96 s, 4.96 s after step 16), 216.
  assert.equal(
    stream.lines.map((l) => overallStep(l, 1000)),
    [1, 6, 11, 16, 116, 216],
  );
});

plain('default interval is 30 s', () => {
  const stream = new FakeStream(false);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 1, stepsPerEpoch: 100, clock: clock.fn });
  for (let k = 1; k <= 99; k++) {
    clock.now = T0 + 1000 * k;
    p.update({ epoch: 1, step: k, images: k, loss: 1, accuracy: 1 });
  }
  assert.equal(
    stream.lines.map((l) => overallStep(l, 100)),
    [1, 31, 61, 91],
  );
});

plain('zero elapsed time: rate and ETA unknown; NaN accuracy shown as -', () => {
  const stream = new FakeStream(false);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 3, stepsPerEpoch: 10, clock: clock.fn });
  p.update({ epoch: 1, step: 1, images: 32, loss: 0.123456, accuracy: NaN });
  assert.equal(stream.lines, ['[00:00:00] epoch 1/3 step 1/10 | - img/s | loss 0.1235 | acc - | ETA --:--:--']);
});

plain('done() prints the last update if it was not shown, with the time of done(); later updates are ignored', () => {
  const stream = new FakeStream(false);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 1, stepsPerEpoch: 10, intervalSeconds: 30, clock: clock.fn });
  clock.now = T0 + 1000;
  p.update({ epoch: 1, step: 1, images: 100, loss: 1.5, accuracy: 0.25 });
  clock.now = T0 + 2000;
  p.update({ epoch: 1, step: 2, images: 200, loss: 1.25, accuracy: 0.375 });
  assert.is(stream.lines.length, 1, 'second update held back');
  clock.now = T0 + 5000;
  p.done();
  // Elapsed 5 s: 200/5 = 40 img/s; ETA = 5 * (10 - 2) / 2 = 20 s.
  assert.equal(stream.lines, [
    '[00:00:01] epoch 1/1 step 1/10 | 100 img/s | loss 1.5000 | acc 25.0% | ETA 00:00:09',
    '[00:00:05] epoch 1/1 step 2/10 | 40.0 img/s | loss 1.2500 | acc 37.5% | ETA 00:00:20',
  ]);
  clock.now = T0 + 100_000;
  p.update({ epoch: 1, step: 10, images: 1000, loss: 1, accuracy: 1 });
  p.done();
  assert.is(stream.lines.length, 2, 'nothing after done()');
});

plain('done() with no update writes nothing', () => {
  const stream = new FakeStream(false);
  const p = new Progress({ stream, epochs: 1, stepsPerEpoch: 10, clock: () => T0 });
  p.done();
  p.done();
  assert.equal(stream.chunks, []);
});

plain('log() writes its own line and leaves the plain-line schedule alone', () => {
  const stream = new FakeStream(false);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 1, stepsPerEpoch: 100, intervalSeconds: 10, clock: clock.fn });
  p.log('before');
  clock.now = T0 + 1000;
  p.update({ epoch: 1, step: 1, images: 1, loss: 1, accuracy: 1 });
  clock.now = T0 + 5000;
  p.log('eval: 42.0%');
  clock.now = T0 + 9000;
  p.update({ epoch: 1, step: 2, images: 2, loss: 1, accuracy: 1 }); // 8 s after the last line: not yet
  clock.now = T0 + 11000;
  p.update({ epoch: 1, step: 3, images: 3, loss: 1, accuracy: 1 }); // 10 s: due
  p.done();
  p.log('after');
  const l = stream.lines;
  assert.is(l.length, 5);
  assert.is(l[0], 'before');
  assert.match(l[1], /^\[00:00:01\] epoch 1\/1 step 1\/100 /);
  assert.is(l[2], 'eval: 42.0%');
  assert.match(l[3], /^\[00:00:11\] epoch 1\/1 step 3\/100 /);
  assert.is(l[4], 'after');
});

plain.run();

// ---------------------------------------------------------------------------------------------------------------
const tty = suite('progress: TTY redraws');

tty('one line redrawn with \\r, throttled to 100 ms except at the end of an epoch; exact text', () => {
  const stream = new FakeStream(true, 200);
  const clock = fakeClock(T0);
  const p = new Progress({
    stream,
    epochs: 1,
    stepsPerEpoch: 10,
    intervalSeconds: 0,
    intervalSteps: 1,
    clock: clock.fn,
  });
  const u = (step: number) => ({ epoch: 1, step, images: 64 * step, loss: 1 / step, accuracy: step / 10 });
  clock.now = T0 + 1000;
  p.update(u(1));
  // bar: round(20 * 1/10) = 2 of 20 filled; elapsed 1 s: 64 img/s, ETA 1 * 9 / 1 = 9 s.
  assert.equal(stream.chunks, [
    '\r[==                  ] epoch 1/1 step 1/10 | 64.0 img/s | loss 1.0000 | acc 10.0% | ETA 00:00:09\x1b[K',
  ]);
  clock.now = T0 + 1050;
  p.update(u(2)); // 50 ms after the last draw: skipped (the interval options only apply to plain lines)
  clock.now = T0 + 1099;
  p.update(u(3)); // 99 ms: skipped
  assert.is(stream.chunks.length, 1);
  clock.now = T0 + 1100;
  p.update(u(4)); // 100 ms: drawn. 40% -> 8 filled; 256 images / 1.1 s = 232.7 -> 233; ETA 1.1 * 6 / 4 = 1.65 -> 2 s.
  assert.is(
    stream.chunks[1],
    '\r[========            ] epoch 1/1 step 4/10 | 233 img/s | loss 0.2500 | acc 40.0% | ETA 00:00:02\x1b[K',
  );
  clock.now = T0 + 1110;
  p.update(u(10)); // end of epoch: drawn despite the throttle, full bar.
  assert.is(stream.chunks.length, 3);
  assert.ok(stream.chunks[2].startsWith(`\r[${'='.repeat(20)}] epoch 1/1 step 10/10 `), stream.chunks[2]);
  assert.ok(stream.chunks[2].endsWith('| ETA 00:00:00\x1b[K'), stream.chunks[2]);
  assert.not.match(stream.chunks.join(''), /\n/, 'redraws never end the line');
  p.done();
  // done(): a final redraw, then the line is ended.
  assert.is(stream.chunks.length, 5);
  assert.is(stream.chunks[3], stream.chunks[2]);
  assert.is(stream.chunks[4], '\n');
  p.update(u(10));
  p.done();
  assert.is(stream.chunks.length, 5, 'nothing after done()');
});

tty('bar fill is rounded per epoch', () => {
  const stream = new FakeStream(true);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 2, stepsPerEpoch: 3, clock: clock.fn });
  for (const [epoch, step] of [
    [1, 1],
    [1, 2],
    [1, 3],
    [2, 1],
  ]) {
    clock.now += 1000;
    p.update({ epoch, step, images: 1, loss: 0, accuracy: 0 });
  }
  // 20/3 = 6.67 -> 7, 40/3 = 13.3 -> 13, 20, then a new epoch starts over at 7.
  const fills = stream.chunks.map((c) => /^\r\[(=*) *\]/.exec(c)![1].length);
  assert.equal(fills, [7, 13, 20, 7]);
  assert.ok(
    stream.chunks.every((c) => /^\r\[[= ]{20}\] /.test(c)),
    'bar is always 20 wide',
  );
});

tty('the line is cut to columns - 1 so it never wraps', () => {
  const stream = new FakeStream(true, 40);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 1, stepsPerEpoch: 10, clock: clock.fn });
  clock.now = T0 + 1000;
  p.update({ epoch: 1, step: 1, images: 64, loss: 1, accuracy: 0.1 });
  // 39 visible characters: the 22-character bar and " epoch 1/1 step 1" (17 characters).
  assert.equal(stream.chunks, ['\r[==                  ] epoch 1/1 step 1\x1b[K']);
  const tiny = new FakeStream(true, 1);
  new Progress({ stream: tiny, epochs: 1, stepsPerEpoch: 10, clock: clock.fn }).update({
    epoch: 1,
    step: 1,
    images: 1,
    loss: 1,
    accuracy: 1,
  });
  assert.equal(tiny.chunks, ['\r\x1b[K']);
  // No columns known (e.g. a pty without a size): not cut.
  const wide = new FakeStream(true);
  new Progress({ stream: wide, epochs: 1, stepsPerEpoch: 10, clock: clock.fn }).update({
    epoch: 1,
    step: 1,
    images: 1,
    loss: 1,
    accuracy: 1,
  });
  assert.match(wide.chunks[0], /\| ETA --:--:--\x1b\[K$/);
});

tty('log() clears the bar, prints the line, and redraws the bar below it', () => {
  const stream = new FakeStream(true, 100);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 1, stepsPerEpoch: 10, clock: clock.fn });
  p.log('no bar yet');
  assert.equal(stream.chunks, ['no bar yet\n'], 'before any update: a plain line');
  clock.now = T0 + 2000;
  p.update({ epoch: 1, step: 5, images: 500, loss: 0.5, accuracy: 0.5 });
  clock.now = T0 + 2010;
  p.log('checkpoint saved');
  const bar = '\r[==========          ] epoch 1/1 step 5/10 | 250 img/s | loss 0.5000 | acc 50.0% | ETA 00:00:02\x1b[K';
  // Redraw at 2.01 s: 500/2.01 = 248.8 -> 249 img/s, ETA 2.01 s -> 00:00:02.
  const redraw =
    '\r[==========          ] epoch 1/1 step 5/10 | 249 img/s | loss 0.5000 | acc 50.0% | ETA 00:00:02\x1b[K';
  assert.equal(stream.chunks, ['no bar yet\n', bar, '\r\x1b[Kcheckpoint saved\n', redraw]);
  p.done();
  p.log('after done');
  assert.equal(stream.chunks.slice(4), [redraw, '\n', 'after done\n']);
});

tty('done() shows the final state even if the last update was throttled', () => {
  const stream = new FakeStream(true);
  const clock = fakeClock(T0);
  const p = new Progress({ stream, epochs: 1, stepsPerEpoch: 10, clock: clock.fn });
  clock.now = T0 + 1000;
  p.update({ epoch: 1, step: 1, images: 10, loss: 1, accuracy: 0 });
  clock.now = T0 + 1001;
  p.update({ epoch: 1, step: 2, images: 20, loss: 1, accuracy: 0 });
  assert.is(stream.chunks.length, 1);
  p.done();
  assert.is(stream.chunks.length, 3);
  assert.match(stream.chunks[1], /^\r\[==== {16}\] epoch 1\/1 step 2\/10 /);
  assert.is(stream.chunks[2], '\n');
  // done() with no update on a TTY: nothing at all.
  const empty = new FakeStream(true);
  new Progress({ stream: empty, epochs: 1, stepsPerEpoch: 1, clock: clock.fn }).done();
  assert.equal(empty.chunks, []);
});

tty.run();
