// Our engine against TensorFlow.js's WebGPU backend on the same adapter, in the same process: the single-op cases
// and one full WRN training step, each checked for agreement (same inputs and weights, outputs compared) before
// being timed.
import type * as TF from '@tensorflow/tfjs';
import { rt, softmaxCrossEntropy, tensor, tidy, valueAndGrads } from '../engine/index.js';
import { perRun, profile } from '../engine/profile.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/wrn.js';
import { HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, permute, randn, relError, relNormError } from './host.js';
import { LR, SGD_OPTIONS } from './method-cost.js';
import type { OpCase } from './op-cases.js';
import { ourRunner, type OurOpResult } from './ops-ours.js';
import { tfjsRunner, type TfjsPeer } from './tfjs.js';
import { TfjsWrn } from './tfjs-wrn.js';
import { repeat, wallTime } from './timing.js';

/** Agreement threshold: on relError for single ops, on relNormError for the gradients of a whole training step. */
export const TOLERANCE = 1e-3;

export interface Side {
  wallMs: number;
  gpuMs: number | null;
}

export interface PeerOpResult {
  name: string;
  flops: number;
  ours: Side;
  tfjs: Side;
  /** tfjs time over ours: above 1, we are faster. */
  ratioWall: number;
  ratioGpu: number | null;
  /** relError of tfjs's result against ours. */
  error: number;
}

export interface StepCheck {
  loss: number;
  inputGrad: number;
  /** The worst parameter gradient, and the worst parameter after the SGD update (relNormError). */
  weightGrad: { name: string; error: number };
  weightAfterStep: { name: string; error: number };
}

export interface PeerStepResult {
  arch: string;
  batch: number;
  ours: Side;
  tfjs: Side;
  ratioWall: number;
  ratioGpu: number | null;
  check: StepCheck;
}

export interface PeerOptions {
  reps: number;
  warmup: number;
  seed: number;
  profile: boolean;
}

const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a / b);

/** tfjs's side of the op cases, next to our measurements from the ops suite. */
export async function peerOps(peer: TfjsPeer, cases: readonly OpCase[], ours: readonly OurOpResult[], o: PeerOptions): Promise<PeerOpResult[]> {
  const out: PeerOpResult[] = [];
  for (const [i, c] of cases.entries()) {
    const mine = ourRunner(c, o.seed);
    const theirs = tfjsRunner(peer, c, o.seed);
    try {
      const error = relError(await theirs.output(), await mine.output());
      const wall = await wallTime(theirs.run, theirs.sync, o.reps, o.warmup);
      const gpu = o.profile ? await peer.gpuMs(() => repeat(o.reps, theirs.run)) : null;
      const tfjs = { wallMs: wall.ms, gpuMs: gpu === null ? null : gpu / o.reps };
      const us = { wallMs: ours[i].wall.ms, gpuMs: ours[i].gpuMs };
      out.push({ name: c.name, flops: c.flops, ours: us, tfjs, ratioWall: tfjs.wallMs / us.wallMs, ratioGpu: ratio(tfjs.gpuMs, us.gpuMs), error });
    } finally {
      mine.dispose();
      theirs.dispose();
    }
  }
  return out;
}

function worst(names: readonly string[], a: readonly Float32Array[], b: readonly Float32Array[]): { name: string; error: number } {
  return names.map((name, i) => ({ name, error: relNormError(a[i], b[i]) })).reduce((w, e) => (e.error > w.error || Number.isNaN(e.error) ? e : w));
}

/** One training step (forward, gradients of the input and all weights, SGD update) on both engines. */
export async function peerStep(peer: TfjsPeer, arch: string, batch: number, image: number, o: PeerOptions): Promise<PeerStepResult> {
  const { tf } = peer;
  const config = parseArch(arch);
  const model = new WideResNet(config, o.seed);
  const named = model.namedParameters();
  const weights = named.map(([, p]) => p.tensor);
  const opt = new Sgd(named, SGD_OPTIONS);
  const xShape = [batch, 3, image, image];
  const xHost = randn(batch * 3 * image * image, o.seed, 0.25).map((v) => v + 0.5);
  const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7 + o.seed) % config.classes);
  const x = tensor(xHost, xShape, { name: 'images' });
  const y = tensor(labels, [batch], { name: 'labels' });
  const peerModel = new TfjsWrn(tf, model, await Promise.all(weights.map((w) => w.data())));
  const tx = tf.tensor4d(permute(xHost, xShape, NCHW_TO_NHWC), [batch, image, image, 3]);
  const ty = tf.tensor1d(labels, 'int32');
  const sgd = { lr: LR, momentum: SGD_OPTIONS.momentum, weightDecay: SGD_OPTIONS.weightDecay };

  const ourGrads = () => valueAndGrads(() => softmaxCrossEntropy(model.forward(x), y), [x, ...weights]);
  const ourStep = () =>
    tidy(() => {
      opt.step(ourGrads().grads.slice(1), LR);
    });
  const theirStep = () => {
    const { loss, inputGrad, grads } = peerModel.lossAndGrads(tx, ty, config.classes);
    peerModel.update(grads, sgd);
    tf.dispose([loss, inputGrad, ...grads]);
  };
  const download = (ts: readonly TF.Tensor[]) => Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
  /** Parameters in our layouts: tfjs conv weights are HWIO. */
  const toOurs = (ts: readonly Float32Array[]) =>
    ts.map((d, i) => (named[i][1].role === 'conv' ? permute(d, peerModel.params[i].shape, HWIO_TO_OIHW) : d));

  try {
    // The check: one step from identical weights, before any timing moves them apart.
    const ours = tidy(() => {
      const { value, grads } = ourGrads();
      opt.step(grads.slice(1), LR);
      return { value, grads };
    });
    const ourLoss = await ours.value.data();
    const ourGradData = await Promise.all(ours.grads.map((g) => g.data()));
    for (const t of [ours.value, ...ours.grads]) t.dispose();
    const ourAfter = await Promise.all(weights.map((w) => w.data()));
    const theirs = peerModel.lossAndGrads(tx, ty, config.classes);
    peerModel.update(theirs.grads, sgd);
    const theirLoss = (await theirs.loss.data()) as Float32Array;
    const theirGradData = await download([theirs.inputGrad, ...theirs.grads]);
    tf.dispose([theirs.loss, theirs.inputGrad, ...theirs.grads]);
    const names = named.map(([n]) => n);
    const check: StepCheck = {
      loss: relError(theirLoss, ourLoss),
      inputGrad: relNormError(permute(theirGradData[0], [batch, image, image, 3], NHWC_TO_NCHW), ourGradData[0]),
      weightGrad: worst(names, toOurs(theirGradData.slice(1)), ourGradData.slice(1)),
      weightAfterStep: worst(names, toOurs(await download(peerModel.params)), ourAfter),
    };

    const ourWall = await wallTime(ourStep, () => rt().sync(), o.reps, o.warmup);
    const ourGpu = o.profile ? perRun(await profile(() => repeat(o.reps, ourStep)), o.reps).ms : null;
    const theirWall = await wallTime(theirStep, peer.sync, o.reps, o.warmup);
    const theirGpu = o.profile ? await peer.gpuMs(() => repeat(o.reps, theirStep)) : null;
    const us = { wallMs: ourWall.ms, gpuMs: ourGpu };
    const them = { wallMs: theirWall.ms, gpuMs: theirGpu === null ? null : theirGpu / o.reps };
    return { arch, batch, ours: us, tfjs: them, ratioWall: them.wallMs / us.wallMs, ratioGpu: ratio(them.gpuMs, us.gpuMs), check };
  } finally {
    tf.dispose([tx, ty]);
    peerModel.dispose();
    for (const t of [x, y]) t.dispose();
    opt.dispose();
    model.dispose();
  }
}
