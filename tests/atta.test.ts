// ATTA-k: the per-example store's geometry (its crops are the loader's augmentation of the padded frame, and a
// crop written back where it was cut leaves the store as it was), and the method by value against a host
// re-implementation over three epochs with crops, flips and a reset, across a save and a resume into a fresh method.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { augmentChoices, imagesToFloat, softmaxCrossEntropy, tensor, tidy, valueAndGrads } from '../engine/index.js';
import { noPasses, type BatchInfo, type MethodEnv } from '../adversarial/method.js';
import { declaredCost, resolveMethod } from '../adversarial/registry.js';
import { Atta, INIT_STD, initSeed, type AttaOptions } from '../adversarial/methods/atta.js';
import { PerturbationStore } from '../adversarial/perturbation-store.js';
import { ThreatModel } from '../adversarial/threat.js';
import { Harness } from '../train/harness.js';
import { loadTrainState, restoreHostArrays, saveTrainState, type TrainState } from '../train/train-state.js';
import { assertClose, assertThrows, ready, rng, tinyTrainSetup } from './helpers.js';

const t = suite('atta');
t.before(ready);

const [C, H, W, PAD] = [3, 8, 8, 2];
const [FH, FW] = [H + 2 * PAD, W + 2 * PAD];
const PIXELS = C * H * W;

/** Random crops and flips for n examples, as the loader draws them (offsets 0..2·pad). */
function randomAugment(n: number, r: () => number): NonNullable<BatchInfo['augment']> {
  const pick = () => Math.floor(r() * (2 * PAD + 1));
  return {
    pad: PAD,
    dy: Int32Array.from({ length: n }, pick),
    dx: Int32Array.from({ length: n }, pick),
    flip: Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)),
  };
}

/** Frame index of crop value k of example e (the independent statement of the crop: pad, cut at (dy, dx), flip). */
function frameIndex(
  index: number,
  a: NonNullable<BatchInfo['augment']>,
  e: number,
  c: number,
  y: number,
  x: number,
): number {
  const xs = a.flip[e] ? W - 1 - x : x;
  return ((index * C + c) * FH + y + a.dy[e]) * FW + xs + a.dx[e];
}

t(
  "the store's crops are the loader's augmentation of the padded frame, and writing a crop back restores it",
  async () => {
    const n = 5;
    const r = rng(3);
    // eps 127: one level is 1, so levels 0..127 stand for image bytes.
    const store = new PerturbationStore(n, C, H, W, PAD, 127);
    const bytes = Uint8Array.from({ length: n * PIXELS }, () => Math.floor(r() * 128));
    for (let i = 0; i < n; i++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++)
            store.levels[((i * C + c) * FH + y + PAD) * FW + x + PAD] = bytes[((i * C + c) * H + y) * W + x];
    const opts = { pad: PAD, flip: true, seed: 9, step: 4 };
    const batch = { indices: Uint32Array.from([0, 1, 2, 3, 4]), augment: { pad: PAD, ...augmentChoices(opts, n) } };
    assert.ok(
      batch.augment.flip.some((f) => f === 1) && batch.augment.flip.some((f) => f === 0),
      'both flipped and unflipped examples',
    );
    const images = tensor(bytes, [n, C, H, W], { name: 'bytes' });
    const shader = await tidy(() => imagesToFloat(images, { augment: opts })).data();
    images.dispose();
    assertClose(
      store.crop(batch).map((v) => v / 255),
      shader,
      'crop of the store vs the augmentation shader',
      0,
      1e-7,
    );

    // Round trip on random levels, a batch in another order with its own crops: the store comes back unchanged.
    store.levels.forEach((_, k) => (store.levels[k] = Math.floor(r() * 255) - 127));
    const before = Int8Array.from(store.levels);
    const other = { indices: Uint32Array.from([3, 0, 4]), augment: randomAugment(3, r) };
    store.write(other, store.crop(other));
    assert.equal(store.levels, before, 'store -> crop -> un-crop -> store');

    // A written crop lands exactly on its frame pixels; every other value keeps its older level.
    const values = Float32Array.from({ length: 3 * PIXELS }, () => (Math.floor(r() * 255) - 127) * store.quantum);
    store.write(other, values);
    const want = Int8Array.from(before);
    other.indices.forEach((index, e) => {
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++)
            want[frameIndex(index, other.augment, e, c, y, x)] = Math.round(
              values[((e * C + c) * H + y) * W + x] / store.quantum,
            );
    });
    assert.equal(store.levels, want, 'written crop at (dy, dx), un-flipped');
    assertThrows(
      () => store.crop({ indices: Uint32Array.from([5]), augment: null }),
      /example 5 is outside the store of 5 examples/,
    );
    assertThrows(
      () => store.crop({ indices: Uint32Array.from([0]), augment: { ...randomAugment(1, r), pad: 4 } }),
      /padded by 4, the store by 2/,
    );
  },
);

t("the initial noise: N(0, std²) quantised, each example's frame the same whenever it is drawn", () => {
  const eps = 8 / 255;
  const [a, b] = [new PerturbationStore(40, C, H, W, PAD, eps), new PerturbationStore(40, C, H, W, PAD, eps)];
  a.reset(0.001, 77);
  b.reset(0.001, 77);
  for (let i = 0; i < 40; i++) a.frame(i);
  for (let i = 39; i >= 0; i--) b.frame(i);
  assert.equal(a.levels, b.levels, 'drawn in another order');
  assert.ok(
    a.undrawn.every((u) => u === 0),
    'every frame drawn',
  );
  const v = Float64Array.from(a.levels, (l) => l * a.quantum);
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
  // 57,600 values: the standard error of the std is 0.3%; quantisation adds q²/12 to the variance (+0.3%).
  assert.ok(Math.abs(mean) < 2e-5, `mean ${mean}`);
  assert.ok(Math.abs(std - Math.sqrt(1e-6 + a.quantum ** 2 / 12)) < 2e-5, `std ${std}`);
  const c = new PerturbationStore(40, C, H, W, PAD, eps);
  c.reset(0.001, 78);
  assert.ok(
    c.frame(0).some((l, k) => l !== a.levels[k]),
    'another seed, other noise',
  );
});

const N_TRAIN = 6;
const BATCH = 3;
const SEED = 5;
const LR = 0.05;
const OPTS: AttaOptions = { steps: 2, stepSize: 0.01, reset: 2 };
const THREAT = ThreatModel.image({ norm: 'linf', eps: 0.05 }, [C, H, W]);
const ENV: MethodEnv = {
  batchShape: [BATCH, C, H, W],
  threat: THREAT,
  seed: SEED,
  trainSize: N_TRAIN,
  classes: 10,
  augmentPad: PAD,
};

const setup = () => tinyTrainSetup();

const STATE: TrainState = {
  step: 5,
  epoch: 2,
  position: { epoch: 2, batch: 1 },
  rng: { seed: SEED },
  config: {},
  counters: {},
};

t(
  'by value against a host re-implementation over 3 epochs (a reset at epoch 2), across a save and a resume',
  async () => {
    const r = rng(21);
    const images = Float32Array.from({ length: N_TRAIN * PIXELS }, () => r());
    const labels = Int32Array.from({ length: N_TRAIN }, (_, i) => (i * 3) % 10);
    const a = setup();
    const h = new Harness(a.model, a.opt, SEED, () => LR);
    let atta = new Atta(OPTS, ENV);
    const b = setup();
    const weights = b.params.map(([, p]) => p.tensor);

    // The reference store, with the method's initial noise (an input, like a random start).
    const f32 = Math.fround;
    const clip = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    const fresh = (generation: number) => {
      const s = new PerturbationStore(N_TRAIN, C, H, W, PAD, THREAT.eps);
      s.reset(INIT_STD, initSeed(SEED, generation));
      for (let i = 0; i < N_TRAIN; i++) s.frame(i);
      return Int8Array.from(s.levels);
    };
    let ref = fresh(0);
    const q = THREAT.eps / 127;
    const [eps, step] = [f32(THREAT.eps), f32(OPTS.stepSize)];
    const dir = await mkdtemp(join(tmpdir(), 'advfree-atta-'));

    for (let s = 0; s < 6; s++) {
      const epoch = Math.floor(s / 2);
      if (epoch === 2 && s % 2 === 0) ref = fresh(1);
      const order = [...Array(N_TRAIN).keys()].sort(
        (i, j) => ((i * 7 + epoch * 5) % N_TRAIN) - ((j * 7 + epoch * 5) % N_TRAIN),
      );
      const indices = Uint32Array.from(order.slice((s % 2) * BATCH, (s % 2) * BATCH + BATCH));
      const augment = randomAugment(BATCH, r);
      // The augmented clean batch: the padded image cut at (dy, dx), flipped.
      const xs = new Float32Array(BATCH * PIXELS);
      indices.forEach((index, e) => {
        for (let c = 0; c < C; c++)
          for (let y = 0; y < H; y++)
            for (let x = 0; x < W; x++) {
              const [fy, fx] = [y + augment.dy[e] - PAD, (augment.flip[e] ? W - 1 - x : x) + augment.dx[e] - PAD];
              xs[((e * C + c) * H + y) * W + x] =
                fy >= 0 && fy < H && fx >= 0 && fx < W ? images[((index * C + c) * H + fy) * W + fx] : 0;
            }
      });
      const x = tensor(xs, [BATCH, C, H, W], { name: 'x' });
      const y = tensor(
        Int32Array.from(indices, (i) => labels[i]),
        [BATCH],
        { name: 'y' },
      );
      const res = h.run(atta, x, y, { indices, epoch, augment });
      res.loss.dispose();
      res.correct.dispose();

      // The reference: start from the stored crop, projected; k signed steps in eval mode; one SGD step.
      const xadv = new Float64Array(BATCH * PIXELS);
      indices.forEach((index, e) => {
        for (let c = 0; c < C; c++)
          for (let yy = 0; yy < H; yy++)
            for (let xx = 0; xx < W; xx++) {
              const k = ((e * C + c) * H + yy) * W + xx;
              const start = f32(xs[k] + f32(ref[frameIndex(index, augment, e, c, yy, xx)] * q));
              xadv[k] = clip(f32(xs[k] + clip(f32(start - xs[k]), -eps, eps)), 0, 1);
            }
      });
      for (let k = 0; k < OPTS.steps; k++) {
        b.model.eval();
        const xa = tensor(Float32Array.from(xadv), [BATCH, C, H, W], { name: 'xa' });
        const g = await tidy(
          () => valueAndGrads(() => softmaxCrossEntropy(b.model.forward(xa), y), [xa]).grads[0],
        ).data();
        xadv.forEach(
          (v, i) => (xadv[i] = clip(f32(xs[i] + clip(f32(f32(v - xs[i]) + step * Math.sign(g[i])), -eps, eps)), 0, 1)),
        );
        xa.dispose();
      }
      b.model.train();
      const xa = tensor(Float32Array.from(xadv), [BATCH, C, H, W], { name: 'xa' });
      tidy(() => b.opt.step(valueAndGrads(() => softmaxCrossEntropy(b.model.forward(xa), y), weights).grads, LR));
      xa.dispose();
      indices.forEach((index, e) => {
        for (let c = 0; c < C; c++)
          for (let yy = 0; yy < H; yy++)
            for (let xx = 0; xx < W; xx++) {
              const k = ((e * C + c) * H + yy) * W + xx;
              ref[frameIndex(index, augment, e, c, yy, xx)] = Math.max(
                -127,
                Math.min(127, Math.round(f32(xadv[k] - xs[k]) * (1 / q))),
              );
            }
      });

      if (s % 2 === 1) await atta.epochEnd();
      if (s === 4) {
        // Save mid-epoch, after this epoch's reset; a fresh method restored from the file carries on.
        const path = join(dir, 'train-state.safetensors');
        await saveTrainState(path, { tensors: {}, host: await atta.hostState(), state: STATE });
        const loaded = await loadTrainState(path);
        const other = new Atta(OPTS, { ...ENV, trainSize: N_TRAIN + 1 });
        const otherState = await other.hostState();
        assertThrows(
          () => restoreHostArrays(loaded, otherState),
          /tensor 'levels' is I8 \[2592\] in the file, this run expects I8 \[3024\]/,
        );
        assert.ok(
          otherState.levels.every((v) => v === 0),
          'a refused restore writes nothing',
        );
        atta = new Atta(OPTS, ENV);
        restoreHostArrays(loaded, await atta.hostState());
      }
      await atta.hostState();
      // frame() draws an example's initial noise if it is still undrawn, as its next use would.
      const store = Int8Array.from(
        { length: ref.length },
        (_, k) => atta.store.frame(Math.floor(k / (C * FH * FW)))[k % (C * FH * FW)],
      );
      assert.ok(
        store.every((v, i) => v === ref[i]),
        `store after step ${s} (epoch ${epoch}): ${store.filter((v, i) => v !== ref[i]).length} levels differ`,
      );
      const wa = await Promise.all(a.params.map(([, p]) => p.tensor.data()));
      const wb = await Promise.all(weights.map((w) => w.data()));
      wa.forEach((w, k) => assertClose(w, wb[k], `weight ${a.params[k][0]} after step ${s}`, 1e-4, 1e-6));
      x.dispose();
      y.dispose();
    }
    // Two steps of 0.01 are 51 levels; the initial noise has a standard deviation of 2.5.
    assert.ok(
      ref.some((v) => Math.abs(v) > 40),
      'the attack moved perturbations far beyond the initial noise',
    );
    const want = declaredCost(resolveMethod({ name: 'atta', ...OPTS }, THREAT.spec));
    assert.equal(h.meter.passes, Object.fromEntries(Object.entries(want).map(([k, v]) => [k, 6 * v])), 'passes');
    assert.equal(want, { ...noPasses(), forward: 3, backwardInputOnly: 2, backwardWeights: 1, sgdSteps: 1 });
    await rm(dir, { recursive: true });
    for (const s of [a, b]) {
      s.opt.dispose();
      s.model.dispose();
    }
  },
);

t('an example used again before its perturbation is read back is refused', async () => {
  const a = setup();
  const h = new Harness(a.model, a.opt, SEED, () => LR);
  const atta = new Atta(OPTS, ENV);
  const x = tensor(new Float32Array(BATCH * PIXELS).fill(0.5), [BATCH, C, H, W], { name: 'x' });
  const y = tensor(Int32Array.from([1, 2, 3]), [BATCH], { name: 'y' });
  const batch = (ids: number[]): BatchInfo => ({ indices: Uint32Array.from(ids), epoch: 0, augment: null });
  const r1 = h.run(atta, x, y, batch([0, 1, 2]));
  assertThrows(
    () => h.run(atta, x, y, batch([3, 2, 4])),
    /atta: example 2 is used again before its perturbation from an earlier step was read back/,
  );
  await atta.epochEnd();
  const r2 = h.run(atta, x, y, batch([3, 2, 4]));
  await atta.hostState();
  for (const v of [r1.loss, r1.correct, r2.loss, r2.correct, x, y]) v.dispose();
  a.opt.dispose();
  a.model.dispose();
});

t.run();
