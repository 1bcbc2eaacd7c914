// Our engine against TensorFlow.js's WebGPU backend on the same adapter, in the same process: the single-op cases
// and one full WRN training step, each checked for agreement (same inputs and weights, outputs compared) before
// being timed; the training step also against its exact value, computed in float64 on the host.
import type * as TF from '@tensorflow/tfjs';
import { rt, tensor, tidy } from '../engine/index.js';
import { perRun, profile } from '../engine/profile.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, permute, randn, relError } from './host.js';
import { LR, SGD_OPTIONS } from './method-cost.js';
import type { OpCase } from './op-cases.js';
import { ourRunner, type OurOpResult } from './ops-ours.js';
import {
  exactStep,
  expectedAfter,
  judgeStep,
  masksOf,
  ourMasks,
  ourStep,
  stepGrads,
  type StepAgreement,
  type StepData,
} from './step-agreement.js';
import { tfjsRunner, type TfjsPeer } from './tfjs.js';
import { TfjsWrn } from './tfjs-wrn.js';
import { pytorchStep, type PytorchStep } from './pytorch.js';
import { repeat, wallTime } from './timing.js';

/** Agreement threshold on relError for single ops (a whole step is judged against float64: step-agreement.ts). */
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

export interface PeerStepResult {
  arch: string;
  batch: number;
  ours: Side;
  tfjs: Side;
  ratioWall: number;
  ratioGpu: number | null;
  /** ReLU masks, loss, input gradient, weight gradients, SGD update: each engine against float64. */
  check: StepAgreement;
  /** The same step in PyTorch's CPU backend, where it is installed (wall time only). */
  pytorch: PytorchStep;
}

export interface PeerOptions {
  reps: number;
  warmup: number;
  seed: number;
  profile: boolean;
}

const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a / b);

/** tfjs's side of the op cases, next to our measurements from the ops suite. */
export async function peerOps(
  peer: TfjsPeer,
  cases: readonly OpCase[],
  ours: readonly OurOpResult[],
  o: PeerOptions,
): Promise<PeerOpResult[]> {
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
      out.push({
        name: c.name,
        flops: c.flops,
        ours: us,
        tfjs,
        ratioWall: tfjs.wallMs / us.wallMs,
        ratioGpu: ratio(tfjs.gpuMs, us.gpuMs),
        error,
      });
    } finally {
      mine.dispose();
      theirs.dispose();
    }
  }
  return out;
}

/** One training step (forward, gradients of the input and all weights, SGD update) on both engines. */
export async function peerStep(
  peer: TfjsPeer,
  arch: string,
  batch: number,
  image: number,
  o: PeerOptions,
): Promise<PeerStepResult> {
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
  const before = await Promise.all(weights.map((w) => w.data()));
  const peerModel = new TfjsWrn(tf, model, before);
  const tx = tf.tensor4d(permute(xHost, xShape, NCHW_TO_NHWC), [batch, image, image, 3]);
  const ty = tf.tensor1d(labels, 'int32');
  const sgd = { lr: LR, momentum: SGD_OPTIONS.momentum, weightDecay: SGD_OPTIONS.weightDecay };

  const timedStep = () =>
    tidy(() => {
      opt.step(stepGrads(model, x, y).grads.slice(1), LR);
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
    // The check: one step from identical weights, before any timing moves them apart. Each engine's ReLU masks
    // first (a forward that changes nothing), then the exact step on each engine's masks.
    const oursMasks = await ourMasks(model, x);
    const tfjsMasks = masksOf(await peerModel.reluOutputs(tx));
    const exact = (masks: ReadonlyMap<string, Uint8Array>) =>
      exactStep(model, before, xHost, xShape, labels, SGD_OPTIONS, LR, masks);
    const ours = await ourStep(model, opt, x, y, LR);
    const theirs = peerModel.lossAndGrads(tx, ty, config.classes);
    peerModel.update(theirs.grads, sgd);
    const [theirInput, ...theirGrads] = await download([theirs.inputGrad, ...theirs.grads]);
    const tfjsStep: StepData = {
      loss: (await theirs.loss.data())[0],
      inputGrad: permute(theirInput, [batch, image, image, 3], NHWC_TO_NCHW),
      grads: toOurs(theirGrads),
      after: toOurs(await download(peerModel.params)),
    };
    tf.dispose([theirs.loss, theirs.inputGrad, ...theirs.grads]);
    const engine = (step: StepData, masks: Map<string, Uint8Array>) => ({
      step,
      masks,
      exact: exact(masks),
      expected: expectedAfter(model, before, step, SGD_OPTIONS, LR),
    });
    const check = judgeStep(
      named.map(([n]) => n),
      before,
      engine(ours, oursMasks),
      engine(tfjsStep, tfjsMasks),
    );

    const ourWall = await wallTime(timedStep, () => rt().sync(), o.reps, o.warmup);
    const ourGpu = o.profile ? perRun(await profile(() => repeat(o.reps, timedStep)), o.reps).ms : null;
    const theirWall = await wallTime(theirStep, peer.sync, o.reps, o.warmup);
    const theirGpu = o.profile ? await peer.gpuMs(() => repeat(o.reps, theirStep)) : null;
    const us = { wallMs: ourWall.ms, gpuMs: ourGpu };
    const them = { wallMs: theirWall.ms, gpuMs: theirGpu === null ? null : theirGpu / o.reps };
    const pytorch = await pytorchStep(arch, batch, image, o.reps, o.warmup, o.seed);
    return {
      arch,
      batch,
      ours: us,
      tfjs: them,
      ratioWall: them.wallMs / us.wallMs,
      ratioGpu: ratio(them.gpuMs, us.gpuMs),
      check,
      pytorch,
    };
  } finally {
    tf.dispose([tx, ty]);
    peerModel.dispose();
    for (const t of [x, y]) t.dispose();
    opt.dispose();
    model.dispose();
  }
}
