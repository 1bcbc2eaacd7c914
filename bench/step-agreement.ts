// Whether one fp32 training step is right, judged against the exact (float64) step: our engine's step, the same
// step in float64 on the host, the error of each fp32 engine against it, and the verdict rule.
import { softmaxCrossEntropy, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import type { Sgd, SgdOptions } from '../nn/optim.js';
import type { WideResNet } from '../nn/wrn.js';
import { relError, relNormError } from './host.js';
import { wrnStep64 } from './reference/f64-wrn.js';

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
  valueAndGrads(() => softmaxCrossEntropy(model.forward(x), y), [x, ...model.namedParameters().map(([, p]) => p.tensor)]);

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

/** The same step in float64 from `weights` (the model's parameters before the step, in its order). */
export function exactStep(model: WideResNet, weights: readonly ArrayLike<number>[], x: ArrayLike<number>, xShape: readonly number[],
  labels: ArrayLike<number>, sgd: SgdOptions, lr: number): StepData {
  const names = model.namedParameters().map(([n]) => n);
  const params = new Map(names.map((n, i) => [n, Float64Array.from(weights[i])]));
  const r = wrnStep64(model.config, params, Float64Array.from(x), xShape, labels, sgd, lr);
  return { loss: r.loss, inputGrad: r.inputGrad, grads: names.map((n) => r.grads.get(n)!), after: names.map((n) => r.after.get(n)!) };
}

/**
 * The verdict rule. Two fp32 engines computing the same step round differently but equally finely (unit roundoff
 * 6e-8), through the same ill-conditioned parts (batch norm's backward subtracts nearly equal sums; ReLU masks flip
 * where a pre-activation is within rounding of 0), so the peer's distance from the exact step measures what fp32
 * can achieve on this very computation. Ours is ok within PEER_FACTOR of that: summation orders differ (a 2x spread
 * is ordinary), while a wrong formula, a missing mask or a stale buffer moves a tensor by orders of magnitude more.
 * FLOOR keeps a peer that happens to be exact to 1e-7 from failing us at 3e-7: far above fp32 noise for a
 * well-conditioned quantity, far below any bug.
 */
export const PEER_FACTOR = 2;
export const FLOOR = 1e-4;

export const agreementBound = (peerError: number): number => Math.max(PEER_FACTOR * peerError, FLOOR);

/** ours ≤ agreementBound(peer); NaN on either side fails (a NaN peer is no yardstick either). */
export const withinBound = (ours: number, peer: number): boolean => ours <= agreementBound(peer);

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
function row(quantity: AgreementRow['quantity'], names: readonly (string | null)[], ours: readonly number[], tfjs: readonly number[],
  peer: readonly number[]): AgreementRow {
  // Largest ours/bound first; NaN sorts as the worst (it fails).
  const badness = (i: number) => (Number.isNaN(ours[i]) ? Infinity : ours[i] / agreementBound(tfjs[i]));
  const i = names.reduce((w, _, j) => (badness(j) > badness(w) ? j : w), 0);
  const p = names.reduce((w, _, j) => (peer[j] > peer[w] || Number.isNaN(peer[j]) ? j : w), 0);
  return {
    quantity,
    tensor: names[i],
    ours: ours[i],
    tfjs: tfjs[i],
    bound: agreementBound(tfjs[i]),
    ok: names.every((_, j) => withinBound(ours[j], tfjs[j])),
    peer: { tensor: names[p], error: peer[p] },
  };
}

/**
 * The four rows: ours and tfjs each against the exact step, and ours against tfjs. The update is judged as
 * after − before (`before`: the parameters all three started from), not as the weights after it: those are
 * mostly the unchanged weights (lr·gradient is ~1e-4 of them), so their relative error could not see a wrong
 * learning rate or weight decay.
 */
export function judgeStep(names: readonly string[], before: readonly ArrayLike<number>[], ours: StepData, tfjs: StepData, exact: StepData): AgreementRow[] {
  const per = (pick: (s: StepData) => ArrayLike<number>[], a: StepData, b: StepData) => pick(a).map((v, i) => relNormError(v, pick(b)[i]));
  const loss = (a: StepData, b: StepData) => relError([a.loss], [b.loss]);
  const input = (a: StepData, b: StepData) => relNormError(a.inputGrad, b.inputGrad);
  const grads = (s: StepData) => s.grads;
  const after = (s: StepData) => s.after.map((w, i) => Float64Array.from(w, (v, j) => v - before[i][j]));
  return [
    row('loss', [null], [loss(ours, exact)], [loss(tfjs, exact)], [loss(tfjs, ours)]),
    row('input gradient', [null], [input(ours, exact)], [input(tfjs, exact)], [input(tfjs, ours)]),
    row('weight gradient', names, per(grads, ours, exact), per(grads, tfjs, exact), per(grads, tfjs, ours)),
    row('SGD update', names, per(after, ours, exact), per(after, tfjs, exact), per(after, tfjs, ours)),
  ];
}
