// The float64 WideResNet step (reference/f64-wrn.ts), the oracle the peer bench judges both fp32 engines by:
// its backward against central differences of its own forward loss, for the input and parameters of every kind;
// its SGD step and its use of given ReLU masks; then our GPU engine's masks and whole step (loss, gradients, SGD
// update) against it; and the bench's verdict rules (step errors, masks) on hand-made numbers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor } from '../engine/index.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { wrnTensorSpecs } from '../nn/models/wrn-layout.js';
import { relNormError } from '../bench/host.js';
import { wrnForward64, wrnStep64 } from '../reference/f64-wrn.js';
import {
  agreementBound,
  exactStep,
  FLOOR,
  judgeStep,
  MASK_TOLERANCE,
  maskCheck,
  masksOf,
  ourMasks,
  ourStep,
  PEER_FACTOR,
  withinBound,
  type StepData,
} from '../bench/step-agreement.js';
import { assertThrows, centralDifference, randn, randu, ready, rng, TEST_SGD } from './helpers.js';

const t = suite('f64-step');
t.before(ready);

const CONFIG = parseArch('wrn-10-1');
const [N, H] = [3, 8];
const SHAPE = [N, 3, H, H];
const LABELS = Int32Array.from([3, 0, 7]);

/** Random parameters of every WRN tensor that trains (no running statistics), BN scales of both signs. */
function randomParams(seed: number): Map<string, Float64Array> {
  const specs = wrnTensorSpecs(CONFIG).filter(([name, s]) => s.dtype === 'F32' && !/running_(mean|var)$/.test(name));
  return new Map(
    specs.map(([name, s], i) => {
      const size = s.shape.reduce((a, b) => a * b, 1);
      if (/bn\d\.weight$/.test(name))
        return [name, randu(size, seed + i, 0.5, 1.5).map((v, j) => (j % 4 === 3 ? -v : v))];
      if (s.shape.length === 1) return [name, randn(size, seed + i, 0.1)];
      return [name, randn(size, seed + i, Math.sqrt(2 / (size / s.shape[0])))];
    }),
  );
}

const loss = (params: Map<string, Float64Array>, x: Float64Array) =>
  wrnForward64(CONFIG, params, x, SHAPE, LABELS).loss;

/**
 * Central differences of the loss at `count` random entries of `v` (h = 1e-5): in float64 the truncation error
 * (h²·f''' ≈ 1e-10 of the gradient's scale) and the rounding (1e-16·loss/h ≈ 1e-11) are far below 1e-7, unless
 * a step moves a ReLU pre-activation across 0, which these few entries of a small net do not.
 */
function fdSample(v: Float64Array, f: () => number, count: number, seed: number): { at: number[]; fd: number[] } {
  const r = rng(seed);
  const at = Array.from({ length: Math.min(count, v.length) }, () => Math.floor(r() * v.length));
  return { at, fd: at.map((i) => centralDifference(v, i, f, 1e-5)) };
}

t(
  'the float64 backward matches central differences of the float64 loss: input, conv, BN weight and bias, linear',
  () => {
    const params = randomParams(10);
    const x = randu(N * 3 * H * H, 5);
    const fwd = wrnForward64(CONFIG, params, x, SHAPE, LABELS);
    const { inputGrad, grads } = fwd.backward();
    assert.equal([...grads.keys()].sort(), [...params.keys()].sort(), 'a gradient for every parameter');
    const kinds = new Set<string>();
    const check = (what: string, v: Float64Array, g: Float64Array, seed: number) => {
      const { at, fd } = fdSample(v, () => loss(params, x), 6, seed);
      const analytic = at.map((i) => g[i]);
      const err = relNormError(analytic, fd);
      assert.ok(
        err < 1e-7,
        `${what}: backward ${analytic.join(', ')} against differences ${fd.join(', ')} (relative error ${err})`,
      );
    };
    check('input', x, inputGrad, 1);
    let seed = 2;
    for (const [name, p] of params) {
      check(name, p, grads.get(name)!, seed++);
      kinds.add(fwd.roles.get(name)!);
    }
    assert.equal([...kinds].sort(), ['bias', 'bn', 'conv', 'linear-weight'], 'every kind of parameter was checked');
  },
);

t(
  'the float64 SGD step is torch.optim.SGD from zero momentum: p − lr·(g + wd·p), Nesterov p − lr·(1 + μ)·(g + wd·p)',
  () => {
    const params = randomParams(20);
    const x = randu(N * 3 * H * H, 6);
    const lr = 0.05;
    const plain = wrnStep64(CONFIG, params, x, SHAPE, LABELS, TEST_SGD, lr);
    const nesterov = wrnStep64(CONFIG, params, x, SHAPE, LABELS, { ...TEST_SGD, nesterov: true, decay: 'weights' }, lr);
    for (const [name, p] of params) {
      const g = plain.grads.get(name)!;
      const wd = TEST_SGD.weightDecay;
      // decay 'weights' decays the conv and linear weights only, not BN parameters or the linear bias.
      const wdW = /conv\w*\.weight$|^fc\.weight$/.test(name) ? wd : 0;
      p.forEach((v, i) => {
        assert.ok(Math.abs(plain.after.get(name)![i] - (v - lr * (g[i] + wd * v))) < 1e-15, `${name}[${i}] plain`);
        const step = lr * (1 + TEST_SGD.momentum) * (g[i] + wdW * v);
        assert.ok(Math.abs(nesterov.after.get(name)![i] - (v - step)) < 1e-15, `${name}[${i}] nesterov`);
      });
    }
  },
);

t('the float64 step follows given ReLU masks: its own signs change nothing, a flipped one changes the gradient', () => {
  const params = randomParams(40);
  const x = randu(N * 3 * H * H, 9);
  const free = wrnForward64(CONFIG, params, x, SHAPE, LABELS);
  const g = free.backward();
  const signs = masksOf(free.preActivations);
  const same = wrnForward64(CONFIG, params, x, SHAPE, LABELS, signs).backward();
  assert.equal(Array.from(same.inputGrad), Array.from(g.inputGrad), 'the input gradient on its own masks');
  for (const [name, v] of g.grads) assert.equal(Array.from(same.grads.get(name)!), Array.from(v), name);
  // Passing the most negative pre-activation of the last batch norm lets its gradient through.
  const z = free.preActivations.get('bn1')!;
  const at = z.reduce((w, v, i) => (v < z[w] ? i : w), 0);
  signs.get('bn1')![at] = 1;
  const flipped = wrnForward64(CONFIG, params, x, SHAPE, LABELS, signs);
  assert.ok(flipped.loss !== free.loss, 'the forward passes the negative value on');
  const err = relNormError(flipped.backward().grads.get('bn1.bias')!, g.grads.get('bn1.bias')!);
  assert.ok(err > 1e-3, `one flipped mask moves bn1.bias's gradient by ${err}`);
});

t('the float64 step names a missing, misshapen or foreign parameter', () => {
  const params = randomParams(30);
  const x = randu(N * 3 * H * H, 7);
  const without = new Map(params);
  without.delete('block2.layer.0.convShortcut.weight');
  assertThrows(
    () => wrnForward64(CONFIG, without, x, SHAPE, LABELS),
    /no parameter 'block2\.layer\.0\.convShortcut\.weight' for wrn-10-1/,
  );
  assertThrows(
    () => wrnForward64(CONFIG, new Map([...params, ['fc.bias', new Float64Array(3)]]), x, SHAPE, LABELS),
    /parameter 'fc\.bias' has 3 values, expected 10/,
  );
  assertThrows(
    () => wrnForward64(CONFIG, new Map([...params, ['block9.conv.weight', new Float64Array(1)]]), x, SHAPE, LABELS),
    /block9\.conv\.weight is not a parameter of wrn-10-1/,
  );
  assertThrows(
    () => wrnForward64(CONFIG, params, x.subarray(1), SHAPE, LABELS),
    /input has 575 values, shape \[3,3,8,8\] needs 576/,
  );
  assertThrows(
    () => wrnForward64(CONFIG, params, x, SHAPE, LABELS, new Map([['bn1', new Uint8Array(3)]])),
    /mask 'bn1' has 3 values, the activation 768/,
  );
  assertThrows(
    () => wrnForward64(CONFIG, params, x, SHAPE, LABELS, new Map([['block9.bn1', new Uint8Array(3)]])),
    /masks for block9\.bn1, which is no batch norm of wrn-10-1/,
  );
});

t('our GPU step (loss, input and weight gradients, SGD update) matches the float64 step', async () => {
  const model = new WideResNet(CONFIG, 4);
  const named = model.namedParameters();
  const opt = new Sgd(named, TEST_SGD);
  const weights = await Promise.all(named.map(([, p]) => p.tensor.data()));
  const xHost = Float32Array.from(randu(N * 3 * H * H, 8));
  const x = tensor(xHost, SHAPE, { name: 'images' });
  const y = tensor(LABELS, [N], { name: 'labels' });
  try {
    const lr = 0.1;
    const stats = model.namedBuffers().flatMap(([, b]) => ('tensor' in b ? [b.tensor] : []));
    const statsBefore = await Promise.all(stats.map((b) => b.data()));
    const masks = await ourMasks(model, x);
    const statsAfter = await Promise.all(stats.map((b) => b.data()));
    statsBefore.forEach((b, i) =>
      assert.equal(Array.from(statsAfter[i]), Array.from(b), 'reading the masks leaves the running statistics'),
    );
    const exact = exactStep(model, weights, xHost, SHAPE, LABELS, TEST_SGD, lr, masks);
    assert.equal([...masks.keys()], [...exact.preActivations.keys()], 'a mask for every batch norm, in forward order');
    const mask = maskCheck(exact.preActivations, masks);
    assert.ok(
      mask.worst <= MASK_TOLERANCE,
      `our masks differ from the exact signs at ${mask.flips} activations, up to ${mask.worst} of rms`,
    );
    const ones = [...masks.values()].reduce((s, m) => s + m.reduce((a, b) => a + b, 0), 0);
    assert.ok(
      ones > 0.3 * mask.total && ones < 0.7 * mask.total,
      `${ones} of ${mask.total} activations pass their ReLU`,
    );
    const ours = await ourStep(model, opt, x, y, lr);
    // fp32 against exact: unit roundoff 6e-8, grown by sums of at most a few hundred terms and by batch norm's
    // backward over 12 to 192 values a channel (it subtracts nearly equal sums): measured at most 1.2e-6 here.
    // 1e-5 leaves a margin of 8, and is below what the smallest plausible slip makes: a missing weight decay
    // moves the conv weights after the step by lr·wd = 5e-5 of themselves; a wrong sign or mask, by order 1.
    const TOL = 1e-5;
    const errs: [string, number][] = [
      ['loss', Math.abs(ours.loss - exact.loss) / exact.loss],
      ['input gradient', relNormError(ours.inputGrad, exact.inputGrad)],
      ...named.map(([n], i): [string, number] => [`gradient of ${n}`, relNormError(ours.grads[i], exact.grads[i])]),
      ...named.map(([n], i): [string, number] => [`${n} after the step`, relNormError(ours.after[i], exact.after[i])]),
    ];
    for (const [what, err] of errs) assert.ok(err <= TOL, `${what}: ours differs from float64 by ${err}`);
    assert.ok(
      errs.some(([, e]) => e > 0),
      'fp32 and float64 differ somewhere (the comparison saw the data)',
    );
  } finally {
    for (const v of [x, y]) v.dispose();
    opt.dispose();
    model.dispose();
  }
});

/** A step whose loss is 2·(1 + d) and every other tensor [1, d] (weights after it: [2, d]); exact is d = 0. */
const stepWith = (d: { loss?: number; input?: number; grads?: number[]; after?: number[] }): StepData => ({
  loss: 2 * (1 + (d.loss ?? 0)),
  inputGrad: [1, d.input ?? 0],
  grads: (d.grads ?? [0, 0]).map((e) => [1, e]),
  after: (d.after ?? [0, 0]).map((e) => [2, e]),
});

t('the verdict: ours within max(2 × tfjs, 1e-4) of the exact step on its masks, per tensor; NaN fails', () => {
  assert.is(PEER_FACTOR, 2);
  assert.is(FLOOR, 1e-4);
  assert.is(agreementBound(2e-3), 4e-3);
  assert.is(agreementBound(1e-7), 1e-4, 'a nearly exact peer leaves the floor');
  assert.ok(withinBound(3.9e-3, 2e-3));
  assert.not.ok(withinBound(4.1e-3, 2e-3));
  assert.ok(withinBound(9e-5, 1e-7));
  assert.not.ok(withinBound(2e-4, 1e-7));
  assert.not.ok(withinBound(NaN, 1e-3));
  assert.not.ok(withinBound(1e-3, NaN), 'a NaN peer is no yardstick: the row fails');

  const names = ['a.weight', 'b.weight'];
  // One BN layer of four pre-activations (rms 2.5); both engines' masks agree with the exact signs.
  const pre = new Map([['bn', Float64Array.of(3, -4, 2.5e-5, -1e-3)]]);
  const signs = new Map([['bn', Uint8Array.of(1, 0, 1, 0)]]);
  const exact = { ...stepWith({}), preActivations: pre };
  // tfjs is measured against the exact step on its own masks: here one whose loss is 2·(1 + 1e-3).
  const exactTfjs = { ...stepWith({ loss: 1e-3 }), preActivations: pre };
  // Ours 3e-3 on a (tfjs 2e-3: bound 4e-3, ok) and 5e-4 on b (tfjs 1e-4: bound 2e-4, FAIL though it is smaller).
  // The weights before the step were [1, 0] and became [2, d]: the update [1, d] is off by |d|, like the gradients.
  const before = [
    [1, 0],
    [1, 0],
  ];
  const ours = {
    step: stepWith({ loss: 1e-6, input: 1e-3, grads: [3e-3, 5e-4], after: [1e-5, 1e-5] }),
    masks: signs,
    exact,
    expected: exact.after,
  };
  const tfjsStep = {
    ...stepWith({ input: 1e-3, grads: [2e-3, 1e-4], after: [2e-5, 1e-6] }),
    loss: 2 * (1 + 1e-3) * (1 + 1e-7),
  };
  const { masks, rows } = judgeStep(names, before, ours, {
    step: tfjsStep,
    masks: signs,
    exact: exactTfjs,
    expected: exact.after,
  });
  assert.equal(masks, {
    ours: { flips: 0, total: 4, worst: 0, layer: null },
    tfjs: { flips: 0, total: 4, worst: 0, layer: null },
    bound: MASK_TOLERANCE,
    ok: true,
  });
  const by = Object.fromEntries(rows.map((r) => [r.quantity, r]));
  assert.equal(
    rows.map((r) => r.quantity),
    ['loss', 'input gradient', 'weight gradient', 'SGD update'],
  );
  const near = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.abs(b);
  assert.ok(by.loss.ok && near(by.loss.ours, 1e-6) && by.loss.tensor === null, 'loss 1e-6 under the floor');
  assert.ok(near(by.loss.tfjs, 1e-7, 1e-6), `tfjs against its own exact step: ${by.loss.tfjs}`);
  assert.ok(near(by.loss.peer.error, 1e-3, 1e-3), `ours against tfjs: ${by.loss.peer.error}`);
  assert.ok(by['input gradient'].ok && near(by['input gradient'].bound, 2e-3));
  const g = by['weight gradient'];
  assert.not.ok(g.ok, 'b fails its own bound although a has the larger error');
  assert.is(g.tensor, 'b.weight', 'the row shows the failing tensor');
  assert.ok(near(g.ours, 5e-4) && near(g.tfjs, 1e-4) && near(g.bound, 2e-4));
  assert.is(g.peer.tensor, 'a.weight', 'ours against tfjs: worst on a');
  assert.ok(near(g.peer.error, 1e-3 / Math.hypot(1, 3e-3)), `ours against tfjs ${g.peer.error}`);
  const u = by['SGD update'];
  assert.ok(u.ok && near(u.ours, 1e-5), `1e-5 on both tensors is under the floor: ${u.ours}`);
  const nan = judgeStep(
    names,
    before,
    { ...ours, step: stepWith({ grads: [NaN, 0] }) },
    { ...ours, step: stepWith({}) },
  );
  assert.not.ok(nan.rows[2].ok, 'a NaN gradient fails');
  assert.is(nan.rows[2].tensor, 'a.weight');

  // An update of 1e-6 on a weight of 1: storing 1 + 1e-6 in fp32 may round by 2^-24 = 6e-8, 6% of the update.
  // Ours off by 5% passes though tfjs is exact; 30% fails. The bound is 2·2^-24·‖after‖/‖update‖.
  const small = (d: number) => ({
    ...stepWith({}),
    after: [
      [1 + 1e-6 + d, 0],
      [1, 0],
    ],
  });
  const want = [
    [1 + 1e-6, 0],
    [1, 0],
  ];
  const judge = (d: number) =>
    judgeStep(names, before, { ...ours, step: small(d), expected: want }, { ...ours, step: small(0), expected: want })
      .rows[3];
  const floor = (2 * 2 ** -24 * Math.hypot(1 + 1e-6)) / 1e-6;
  assert.ok(judge(5e-8).ok && near(judge(5e-8).bound, floor, 1e-6), `the rounding floor ${judge(5e-8).bound}`);
  assert.not.ok(judge(3e-7).ok, `an update off by 30%: ${judge(3e-7).ours}`);
});

t('the mask check: a flip is fp32 noise within 1e-4 of the layer RMS of 0, a wrong mask beyond it', () => {
  assert.is(MASK_TOLERANCE, 1e-4);
  const pre = new Map([
    ['a', Float64Array.of(3, -4, 2.5e-5, -1e-3)],
    ['b', Float64Array.of(1, -1)],
  ]);
  const rms = Math.sqrt((9 + 16 + 2.5e-5 ** 2 + 1e-6) / 4);
  const check = (a: number[], b: number[]) =>
    maskCheck(
      pre,
      new Map([
        ['a', Uint8Array.from(a)],
        ['b', Uint8Array.from(b)],
      ]),
    );
  assert.equal(check([1, 0, 1, 0], [1, 0]), { flips: 0, total: 6, worst: 0, layer: null });
  const near = check([1, 0, 0, 0], [1, 0]);
  assert.equal([near.flips, near.layer], [1, 'a']);
  assert.ok(
    Math.abs(near.worst - 2.5e-5 / rms) < 1e-15 && near.worst <= MASK_TOLERANCE,
    `a flip at 1e-5 of rms: ${near.worst}`,
  );
  const far = check([1, 0, 0, 1], [1, 0]);
  assert.ok(
    far.flips === 2 && far.worst > MASK_TOLERANCE && Math.abs(far.worst - 1e-3 / rms) < 1e-15,
    `4e-4 of rms: ${far.worst}`,
  );
  const wrong = check([1, 0, 1, 0], [0, 1]);
  assert.equal([wrong.flips, wrong.worst, wrong.layer], [2, 1, 'b']);
  assertThrows(() => maskCheck(pre, new Map([['a', Uint8Array.of(1, 0, 1, 0)]])), /no ReLU mask for 'b'/);
});

t.run();
