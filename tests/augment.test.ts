import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { imagesToFloat, rt, tensor, type Tensor } from '../engine/index.js';
import { assertClose, assertThrows, ready, rng } from './helpers.js';

const t = suite('augment');
t.before(ready);

// CPU re-implementation of the hash documented in shaders/augment.wgsl (u32 arithmetic via Math.imul / >>> 0).
function pcg(v: number): number {
  const s = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const w = Math.imul((s >>> ((s >>> 28) + 4)) ^ s, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

interface Choice {
  dy: number;
  dx: number;
  flip: boolean;
}

function choice(seed: number, step: number, example: number, pad: number, flip: boolean): Choice {
  const base = pcg((pcg((pcg(seed) ^ step) >>> 0) ^ example) >>> 0);
  const range = 2 * pad + 1;
  return { dy: pcg(base) % range, dx: pcg((base ^ 1) >>> 0) % range, flip: flip && pcg((base ^ 2) >>> 0) >>> 31 === 1 };
}

/** Float64 reference: materialise the zero-padded image, crop it, then mirror the crop. */
function reference(
  bytes: Uint8Array,
  [N, C, H, W]: number[],
  aug?: { pad: number; flip: boolean; seed: number; step: number },
): Float64Array {
  const out = new Float64Array(N * C * H * W);
  const pad = aug?.pad ?? 0;
  const PH = H + 2 * pad;
  const PW = W + 2 * pad;
  for (let n = 0; n < N; n++) {
    const ch = aug ? choice(aug.seed, aug.step, n, pad, aug.flip) : { dy: 0, dx: 0, flip: false };
    for (let c = 0; c < C; c++) {
      const padded = new Float64Array(PH * PW);
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) padded[(y + pad) * PW + x + pad] = bytes[((n * C + c) * H + y) * W + x] / 255;
      const crop = new Float64Array(H * W);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) crop[y * W + x] = padded[(y + ch.dy) * PW + x + ch.dx];
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) out[((n * C + c) * H + y) * W + x] = crop[y * W + (ch.flip ? W - 1 - x : x)];
    }
  }
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const b = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
  b[0] = 255; // both extremes appear
  if (n > 1) b[1] = 0;
  return b;
}

const upload = (shape: number[], seed: number): [Tensor, Uint8Array] => {
  const b = randomBytes(
    shape.reduce((a, d) => a * d, 1),
    seed,
  );
  return [tensor(b, shape, { name: 'bytes' }), b];
};

// Odd sizes make a vec4 of outputs straddle rows, channels and examples; [7,1,1,1] puts each lane in a new example.
const shapes = [
  [5, 3, 32, 32],
  [2, 3, 7, 9],
  [3, 1, 1, 5],
  [7, 1, 1, 1],
  [1, 3, 5, 3],
  [1, 1, 1, 1],
];

t('plain conversion is byte/255', async () => {
  for (const [i, shape] of shapes.entries()) {
    const [x, b] = upload(shape, 10 + i);
    const y = imagesToFloat(x);
    assert.equal(y.shape, shape);
    assert.is(y.dtype, 'f32');
    // f32 holds byte/255 to within half an ulp (< 6e-8).
    assertClose(await y.data(), reference(b, shape), `convert ${shape}`, 0, 1e-7);
    x.dispose();
    y.dispose();
  }
});

t('augmentation matches the CPU pad + crop + flip', async () => {
  const cases = [
    { shape: [5, 3, 32, 32], aug: { pad: 4, flip: true, seed: 1234, step: 0 } },
    { shape: [5, 3, 32, 32], aug: { pad: 4, flip: true, seed: 1234, step: 17 } },
    { shape: [5, 3, 7, 9], aug: { pad: 2, flip: true, seed: 99, step: 3 } },
    { shape: [5, 3, 7, 9], aug: { pad: 5, flip: false, seed: 7, step: 1 } }, // offsets beyond the image: whole rows black
    { shape: [4, 2, 7, 9], aug: { pad: 0, flip: true, seed: 5, step: 2 } }, // flip only
    { shape: [7, 1, 1, 1], aug: { pad: 1, flip: true, seed: 3, step: 4 } },
    { shape: [3, 1, 1, 5], aug: { pad: 3, flip: true, seed: 0xffffffff, step: 0xfffffffe } },
  ];
  for (const [i, { shape, aug }] of cases.entries()) {
    const [x, b] = upload(shape, 20 + i);
    const y = imagesToFloat(x, { augment: aug });
    assertClose(await y.data(), reference(b, shape, aug), `augment ${shape} ${JSON.stringify(aug)}`, 0, 1e-7);
    x.dispose();
    y.dispose();
  }
});

t('one elementwise dispatch, reproducible from (seed, step)', async () => {
  const shape = [16, 3, 7, 9];
  const [x] = upload(shape, 30);
  const aug = { pad: 4, flip: true, seed: 42, step: 5 };
  const before = rt().counters();
  const a = await imagesToFloat(x, { augment: aug }).data();
  const after = rt().counters();
  assert.is(after.total - before.total, 1);
  assert.is((after.byFamily.elementwise ?? 0) - (before.byFamily.elementwise ?? 0), 1);
  assert.is((after.byKernel.images_to_float ?? 0) - (before.byKernel.images_to_float ?? 0), 1);
  assertClose(await imagesToFloat(x, { augment: aug }).data(), a, 'same seed and step', 0, 0);
  const per = a.length / shape[0];
  const changed = (o: Float32Array) =>
    [...Array(shape[0]).keys()].filter((n) => o.subarray(n * per, (n + 1) * per).some((v, j) => v !== a[n * per + j]));
  const otherStep = await imagesToFloat(x, { augment: { ...aug, step: 6 } }).data();
  assert.ok(changed(otherStep).length > 0, 'a different step changes some example');
  const otherSeed = await imagesToFloat(x, { augment: { ...aug, seed: 43 } }).data();
  assert.ok(changed(otherSeed).length > 0, 'a different seed changes some example');
  x.dispose();
});

t('offsets cover [0, 2·pad] uniformly, flips about half', async () => {
  // 8x8 single-channel images whose pixel values encode their position, so the GPU output reveals each
  // example's crop and flip (at least 4x4 source pixels stay visible with pad 4).
  const N = 4000;
  const S = 8;
  const pad = 4;
  const bytes = new Uint8Array(N * S * S);
  for (let i = 0; i < bytes.length; i++) bytes[i] = 1 + (i % (S * S));
  const x = tensor(bytes, [N, 1, S, S], { name: 'positions' });
  const aug = { pad, flip: true, seed: 2024, step: 11 };
  const out = await imagesToFloat(x, { augment: aug }).data();
  x.dispose();
  const counts = {
    dy: new Array(2 * pad + 1).fill(0),
    dx: new Array(2 * pad + 1).fill(0),
    pair: new Set<number>(),
    flips: 0,
  };
  for (let n = 0; n < N; n++) {
    const visible: [number, number, number, number][] = []; // oy, ox, sy, sx
    for (let oy = 0; oy < S; oy++)
      for (let ox = 0; ox < S; ox++) {
        const v = Math.round(out[n * S * S + oy * S + ox] * 255);
        if (v > 0) visible.push([oy, ox, (v - 1) >> 3, (v - 1) & 7]);
      }
    const [oy, ox, sy, sx] = visible[0];
    const next = visible[1]; // same row, next column
    assert.is(next[0], oy);
    const flip = next[3] < sx;
    const dy = sy - oy + pad;
    const dx = sx - (flip ? S - 1 - ox : ox) + pad;
    const want = choice(aug.seed, aug.step, n, pad, true);
    assert.equal({ dy, dx, flip }, want, `example ${n}`);
    counts.dy[dy]++;
    counts.dx[dx]++;
    counts.pair.add(dy * 16 + dx);
    if (flip) counts.flips++;
  }
  const expected = N / (2 * pad + 1);
  for (const k of ['dy', 'dx'] as const)
    counts[k].forEach((c, v) =>
      assert.ok(Math.abs(c - expected) < 0.2 * expected, `${k}=${v} drawn ${c} times, expected ~${expected}`),
    );
  assert.is(counts.pair.size, (2 * pad + 1) ** 2, 'every (dy, dx) pair occurs');
  const frac = counts.flips / N;
  assert.ok(Math.abs(frac - 0.5) < 0.04, `flip fraction ${frac}`);
});

t('argument errors name the op and the shapes', () => {
  const f = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4], { name: 'floats' });
  assertThrows(() => imagesToFloat(f), /imagesToFloat/, /must be u8/, /'floats' \[2,3,4,4\]/);
  const r3 = tensor(new Uint8Array(3 * 4 * 4), [3, 4, 4], { name: 'chw' });
  assertThrows(() => imagesToFloat(r3), /imagesToFloat/, /rank 4/, /'chw' \[3,4,4\] u8/);
  const x = tensor(new Uint8Array(2 * 3 * 4 * 4), [2, 3, 4, 4], { name: 'bytes' });
  const ok = { pad: 4, flip: true, seed: 1, step: 0 };
  assertThrows(
    () => imagesToFloat(x, { augment: { ...ok, pad: -1 } }),
    /imagesToFloat/,
    /pad must be an integer >= 0, got -1/,
    /\[2,3,4,4\]/,
  );
  assertThrows(() => imagesToFloat(x, { augment: { ...ok, pad: 1.5 } }), /pad must be an integer >= 0, got 1.5/);
  assertThrows(() => imagesToFloat(x, { augment: { ...ok, seed: -3 } }), /seed must be an integer/);
  assertThrows(() => imagesToFloat(x, { augment: { ...ok, step: 0.5 } }), /step must be an integer/);
  for (const v of [f, r3, x]) v.dispose();
});

t.run();
