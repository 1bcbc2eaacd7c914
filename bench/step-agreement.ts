// Whether one fp32 training step is right, judged against the exact (float64) step: our engine's step and ReLU
// masks, the same step in float64 on the host on an engine's masks, the error of each fp32 engine against it,
// and the verdict rule.
import { softmaxCrossEntropy, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import { Tape, withTape } from '../engine/record.js';
import { freezeBatchNorm } from '../nn/layers.js';
import type { Sgd, SgdOptions } from '../nn/optim.js';
import type { WideResNet } from '../nn/models/wrn.js';
import { relError, relNormError } from './host.js';
import { sgdStep64, wrnStep64 } from '../reference/f64-wrn.js';

/** One training step's results in our layouts (NCHW, OIHW), parameters in `namedParameters()` order. */
export interface StepData {
  loss: number;
  inputGrad: ArrayLike<number>;
  grads: ArrayLike<number>[];
  /** The parameters after the SGD update. */
  after: ArrayLike<number>[];
}

/** The loss of `model` on (x, y) and its gradients for [x, ...parameters]: the step both checks and benches time. */
export const stepGrads = (model: WideResNet, x: Tensor, y: Tensor) =>
  valueAndGrads(
    () => softmaxCrossEntropy(model.forward(x), y),
    [x, ...model.namedParameters().map(([, p]) => p.tensor)],
  );

/** Our engine's step: loss, gradients, then `opt`'s update in place, read back. */
export async function ourStep(model: WideResNet, opt: Sgd, x: Tensor, y: Tensor, lr: number): Promise<StepData> {
  const { value, grads } = tidy(() => {
    const r = stepGrads(model, x, y);
    opt.step(r.grads.slice(1), lr);
    return r;
  });
  try {
    const data = await Promise.all(grads.map((g) => g.data()));
    return {
      loss: (await value.data())[0],
      inputGrad: data[0],
      grads: data.slice(1),
      after: await Promise.all(model.namedParameters().map(([, p]) => p.tensor.data())),
    };
  } finally {
    for (const t of [value, ...grads]) t.dispose();
  }
}

/** An exact step, with each batch norm's float64 output before its ReLU (by BN name) to check masks against. */
export type ExactStep = StepData & { preActivations: Map<string, Float64Array> };

/** The same step in float64 from `weights` (the model's parameters before the step, in its order), on `masks`. */
export function exactStep(
  model: WideResNet,
  weights: readonly ArrayLike<number>[],
  x: ArrayLike<number>,
  xShape: readonly number[],
  labels: ArrayLike<number>,
  sgd: SgdOptions,
  lr: number,
  masks?: ReadonlyMap<string, Uint8Array>,
): ExactStep {
  const names = model.namedParameters().map(([n]) => n);
  const params = new Map(names.map((n, i) => [n, Float64Array.from(weights[i])]));
  const r = wrnStep64(model.config, params, Float64Array.from(x), xShape, labels, sgd, lr, masks);
  return {
    loss: r.loss,
    inputGrad: r.inputGrad,
    grads: names.map((n) => r.grads.get(n)!),
    after: names.map((n) => r.after.get(n)!),
    preActivations: r.preActivations,
  };
}

/**
 * What the SGD step should have made of an engine's own gradients (float64, from `weights`, the parameters before
 * it): the update is judged apart from the gradients' error, so that its only fp32 error is the final rounding.
 */
export function expectedAfter(
  model: WideResNet,
  weights: readonly ArrayLike<number>[],
  step: StepData,
  sgd: SgdOptions,
  lr: number,
): Float64Array[] {
  const named = model.namedParameters();
  const after = sgdStep64(
    new Map(named.map(([n], i) => [n, Float64Array.from(weights[i])])),
    new Map(named.map(([n], i) => [n, step.grads[i]])),
    new Map(named.map(([n, p]) => [n, p.role])),
    sgd,
    lr,
  );
  return named.map(([n]) => after.get(n)!);
}

/** 1 where a ReLU output is positive (where the backward passes the gradient), by BN name. */
export const masksOf = (outputs: ReadonlyMap<string, ArrayLike<number>>): Map<string, Uint8Array> =>
  new Map([...outputs].map(([name, y]) => [name, Uint8Array.from(y, (v) => (v > 0 ? 1 : 0))]));

/**
 * Our engine's ReLU masks for the step on x (NCHW, by BN name): every batch norm of the WRN has its ReLU fused,
 * and its output, positive exactly where the backward passes the gradient, is read off a tape of one more
 * forward with the same kernels on the same data (running statistics frozen, so the model is left as it was).
 */
export async function ourMasks(model: WideResNet, x: Tensor): Promise<Map<string, Uint8Array>> {
  const bnOf = new Map(
    model
      .namedParameters()
      .filter(([n, p]) => p.role === 'bn' && n.endsWith('.weight'))
      .map(([n, p]) => [p.tensor.id, n.slice(0, -7)]),
  );
  freezeBatchNorm(model, true);
  const tape = new Tape([x]);
  let outputs: Tensor[];
  try {
    outputs = tidy(() => {
      withTape(tape, () => model.forward(x));
      return tape.nodes.filter((n) => n.op === 'batchNorm').map((n) => n.output);
    });
  } finally {
    freezeBatchNorm(model, false);
  }
  const names = tape.nodes.filter((n) => n.op === 'batchNorm').map((n) => bnOf.get(n.inputs[1].id)!);
  try {
    return masksOf(
      new Map(
        await Promise.all(outputs.map(async (y, i): Promise<[string, Float32Array]> => [names[i], await y.data()])),
      ),
    );
  } finally {
    for (const y of outputs) y.dispose();
  }
}

/**
 * Where an engine's masks differ from the signs of the exact pre-activations z (computed on those masks), the
 * largest |z| relative to the RMS of z over its layer: a pre-activation that close to 0 has a sign fp32 cannot
 * be expected to get right, one far from it is a wrong mask.
 */
export interface MaskCheck {
  /** Activations where the mask differs, out of `total`. */
  flips: number;
  total: number;
  /** The largest |z| / rms(z) of a differing activation, and its layer; 0 and null without any. */
  worst: number;
  layer: string | null;
}

export function maskCheck(pre: ReadonlyMap<string, Float64Array>, masks: ReadonlyMap<string, Uint8Array>): MaskCheck {
  const out: MaskCheck = { flips: 0, total: 0, worst: 0, layer: null };
  for (const [name, z] of pre) {
    const mask = masks.get(name);
    if (!mask) throw new Error(`advfree bench: no ReLU mask for '${name}'`);
    const rms = Math.sqrt(z.reduce((s, v) => s + v * v, 0) / z.length);
    out.total += z.length;
    z.forEach((v, i) => {
      if (mask[i] === (v > 0 ? 1 : 0)) return;
      out.flips++;
      const r = Math.abs(v) / rms;
      if (!(r <= out.worst)) [out.worst, out.layer] = [r, name];
    });
  }
  return out;
}

/**
 * fp32's error on a pre-activation, relative to its layer's RMS: measured about 1e-6 on WRN-16-1 (batch 64, 32x32:
 * of 8.4M activations, 71 lie within 1e-5·rms of 0, and an engine flips a few of them); 1e-4 leaves a margin of 100,
 * while a mask taken from the wrong tensor or channel differs at activations of order rms.
 */
export const MASK_TOLERANCE = 1e-4;

/**
 * The verdict rule. Each engine is measured against the exact step on its own ReLU masks (a different mask at a
 * pre-activation within rounding of 0 moves a whole gradient by ~1/√(its size), 2e-3 on WRN-16-1, and is checked
 * separately by maskCheck), so what remains is rounding. Two fp32 engines round differently but equally finely
 * (unit roundoff 6e-8) through the same ill-conditioned parts (batch norm's backward subtracts nearly equal sums),
 * so the peer's distance from the exact step measures what fp32 can achieve on this very computation. Ours is ok
 * within PEER_FACTOR of that: summation orders differ (a 2x spread is ordinary), while a wrong formula, a missing
 * mask or a stale buffer moves a tensor by orders of magnitude more. FLOOR keeps a peer that happens to be exact
 * to 1e-7 from failing us at 3e-7: far above fp32 rounding for a well-conditioned quantity, far below any bug.
 */
export const PEER_FACTOR = 2;
export const FLOOR = 1e-4;

/** fp32's unit roundoff: storing a value rounds it by at most this fraction of itself. */
export const UNIT_ROUNDOFF = 2 ** -24;

/** The bound for an error whose peer's is `peerError`, at least `floor` (a rounding no fp32 engine avoids). */
export const agreementBound = (peerError: number, floor = 0): number => Math.max(PEER_FACTOR * peerError, FLOOR, floor);

/** ours ≤ agreementBound(peer, floor); NaN on either side fails (a NaN peer is no yardstick either). */
export const withinBound = (ours: number, peer: number, floor = 0): boolean => ours <= agreementBound(peer, floor);

export interface AgreementRow {
  quantity: 'loss' | 'input gradient' | 'weight gradient' | 'SGD update';
  /** For the per-parameter rows: the tensor judged, the one whose error is closest to (or furthest past) its bound. */
  tensor: string | null;
  /** Relative error against float64 (relError for the loss, relNormError per tensor otherwise). */
  ours: number;
  tfjs: number;
  bound: number;
  ok: boolean;
  /** Ours against tfjs, the worst tensor (the check before there was an exact step). */
  peer: { tensor: string | null; error: number };
}

/** Judges one quantity over its tensors (one, or one per parameter); the row shows the tensor nearest failing. */
function row(
  quantity: AgreementRow['quantity'],
  names: readonly (string | null)[],
  ours: readonly number[],
  tfjs: readonly number[],
  peer: readonly number[],
  floors: readonly number[] = names.map(() => 0),
): AgreementRow {
  const bound = (i: number) => agreementBound(tfjs[i], floors[i]);
  // Largest ours/bound first; NaN sorts as the worst (it fails).
  const badness = (i: number) => (Number.isNaN(ours[i]) ? Infinity : ours[i] / bound(i));
  const i = names.reduce((w, _, j) => (badness(j) > badness(w) ? j : w), 0);
  const p = names.reduce((w, _, j) => (peer[j] > peer[w] || Number.isNaN(peer[j]) ? j : w), 0);
  return {
    quantity,
    tensor: names[i],
    ours: ours[i],
    tfjs: tfjs[i],
    bound: bound(i),
    ok: names.every((_, j) => withinBound(ours[j], tfjs[j], floors[j])),
    peer: { tensor: names[p], error: peer[p] },
  };
}

/** One engine's step, the ReLU masks it took, the exact step on those masks, and expectedAfter of its gradients. */
export interface EngineStep {
  step: StepData;
  masks: ReadonlyMap<string, Uint8Array>;
  exact: ExactStep;
  expected: ArrayLike<number>[];
}

export interface StepAgreement {
  /** Each engine's masks against the exact pre-activations; ok when ours differ only within MASK_TOLERANCE of 0. */
  masks: { ours: MaskCheck; tfjs: MaskCheck; bound: number; ok: boolean };
  rows: AgreementRow[];
}

/**
 * The masks, and four rows: ours and tfjs each against the exact step on its masks (loss and gradients), the
 * update against what SGD should have made of the engine's own gradients, and ours against tfjs. The update is
 * after − before (`before`: the parameters all started from): the weights after it are mostly the unchanged weights
 * (lr·gradient is ~1e-4 of them), whose relative error could not see a wrong learning rate or weight decay. Storing
 * the new weight rounds it by up to UNIT_ROUNDOFF·|w|, which is large against a small update: that much is allowed.
 */
export function judgeStep(
  names: readonly string[],
  before: readonly ArrayLike<number>[],
  ours: EngineStep,
  tfjs: EngineStep,
): StepAgreement {
  const per = (pick: (s: StepData) => ArrayLike<number>[], a: StepData, b: StepData) =>
    pick(a).map((v, i) => relNormError(v, pick(b)[i]));
  const loss = (a: StepData, b: StepData) => relError([a.loss], [b.loss]);
  const input = (a: StepData, b: StepData) => relNormError(a.inputGrad, b.inputGrad);
  const grads = (s: StepData) => s.grads;
  const delta = (after: readonly ArrayLike<number>[]) =>
    after.map((w, i) => Float64Array.from(w, (v, j) => v - before[i][j]));
  const update = (e: EngineStep) => {
    const want = delta(e.expected);
    return delta(e.step.after).map((d, i) => relNormError(d, want[i]));
  };
  const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
  // The stored weights' rounding relative to the update, with a margin of 2 (none for an update that is exactly 0).
  const rounding = delta(ours.expected).map((d, i) =>
    norm(d) === 0 ? 0 : (2 * UNIT_ROUNDOFF * norm(ours.expected[i])) / norm(d),
  );
  const [o, oe, t, te] = [ours.step, ours.exact, tfjs.step, tfjs.exact];
  const mine = maskCheck(oe.preActivations, ours.masks);
  return {
    masks: {
      ours: mine,
      tfjs: maskCheck(te.preActivations, tfjs.masks),
      bound: MASK_TOLERANCE,
      ok: mine.worst <= MASK_TOLERANCE,
    },
    rows: [
      row('loss', [null], [loss(o, oe)], [loss(t, te)], [loss(t, o)]),
      row('input gradient', [null], [input(o, oe)], [input(t, te)], [input(t, o)]),
      row('weight gradient', names, per(grads, o, oe), per(grads, t, te), per(grads, t, o)),
      row(
        'SGD update',
        names,
        update(ours),
        update(tfjs),
        per((s) => delta(s.after), t, o),
        rounding,
      ),
    ],
  };
}
