// ATTA-k (Zheng et al., "Efficient Adversarial Training with Transferable Adversarial Examples", CVPR 2020), as
// the authors' train_atta_cifar.py runs it: a perturbation per training example carried across epochs, cut out
// with each epoch's crop and flip, attacked with k PGD steps in BN eval mode starting from it, trained on, and
// written back where it was cut; the store is re-initialised every R epochs. The store holds the perturbation
// (adversarial image minus clean image), not the image, on the host (adversarial/perturbation-store.ts says why).
import { add, keep, softmaxCrossEntropy, sub, tensor, tidy, type Tensor } from '../../engine/index.js';
import { pgdPerturb } from '../attacks/pgd.js';
import { noAttackPasses } from '../attacks/types.js';
import {
  defineMethod,
  noPasses,
  type BatchInfo,
  type HostStateArray,
  type Method,
  type MethodEnv,
  type ProbeContext,
  type ProbeValues,
  type StepContext,
  type StepResult,
} from '../method.js';
import { lossAccuracy, PROBE_STREAM } from '../probes.js';
import { mix } from '../../engine/index.js';
import { PerturbationStore } from '../perturbation-store.js';
import { stepSize } from './common.js';

export interface AttaOptions {
  /** Attack steps per minibatch. */
  steps: number;
  stepSize: number;
  /** Re-initialise the store every this many epochs (0: never). */
  reset: number;
}

/** The code's initial store: the clean image plus 0.001·N(0, 1). */
export const INIT_STD = 0.001;

/** The seed of the store's initial noise in reset generation `generation`. */
export const initSeed = (seed: number, generation: number): number => mix(seed ^ 0x41a7, generation);

export class Atta implements Method {
  readonly store: PerturbationStore;
  /** The reset generation the store holds, floor(epoch / reset): part of the training state. */
  private readonly generation = new Int32Array(1);
  /** Per example: writes read back from the GPU but not yet in the store. */
  private readonly inFlight: Uint8Array;
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown = null;

  constructor(
    readonly opts: AttaOptions,
    readonly env: MethodEnv,
  ) {
    // Feature vectors [N, F] are stored as F x 1 x 1 frames (they are never cropped or flipped).
    const [, C, H = 1, W = 1] = env.batchShape;
    this.store = new PerturbationStore(env.trainSize, C, H, W, env.augmentPad ?? 0, env.threat.eps);
    this.inFlight = new Uint8Array(env.trainSize);
    this.store.reset(INIT_STD, initSeed(env.seed, 0));
  }

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    if (this.failure) throw this.failure;
    const o = this.opts;
    const batch = {
      indices: Uint32Array.from(ctx.batch.indices),
      augment: ctx.batch.augment && { ...ctx.batch.augment },
    };
    const generation = o.reset > 0 ? Math.floor(ctx.batch.epoch / o.reset) : 0;
    if (generation !== this.generation[0]) {
      if (this.pending.size)
        throw new Error(
          `atta: the store is due for its reset at epoch ${ctx.batch.epoch} while earlier perturbations are still being read back (await hostState() first)`,
        );
      this.store.reset(INIT_STD, initSeed(this.env.seed, generation));
      this.generation[0] = generation;
    }
    for (const i of batch.indices) {
      if (this.inFlight[i])
        throw new Error(
          `atta: example ${i} is used again before its perturbation from an earlier step was read back (await hostState() or epochEnd() between uses)`,
        );
    }
    const { model } = ctx;
    return tidy(() => {
      const start = add(x, tensor(this.store.crop(batch), x.shape, { name: 'atta_start' }));
      model.eval();
      let xAdv: Tensor;
      try {
        xAdv = pgdPerturb(
          (v) => model.forward(v),
          x,
          y,
          { threat: this.env.threat, stepSize: o.stepSize, steps: o.steps, start },
          noAttackPasses(),
        );
      } finally {
        model.train();
      }
      const { loss, correct } = ctx.update(() => {
        const logits = model.forward(xAdv);
        return { loss: softmaxCrossEntropy(logits, y), logits };
      }, y);
      this.writeBack(batch, sub(xAdv, x));
      return { loss, correct };
    });
  }

  /** Reads the batch's new perturbation back without waiting, and writes it into the store when it arrives. */
  private writeBack(batch: Pick<BatchInfo, 'indices' | 'augment'>, delta: Tensor): void {
    for (const i of batch.indices) this.inFlight[i]++;
    const p: Promise<void> = delta
      .data()
      .then(
        (values) => this.store.write(batch, values),
        (e) => void (this.failure ??= e),
      )
      .finally(() => {
        for (const i of batch.indices) this.inFlight[i]--;
        this.pending.delete(p);
      });
    this.pending.add(p);
  }

  /** Waits for every pending write. */
  private async flush(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending);
    if (this.failure) throw this.failure;
  }

  async hostState(): Promise<Record<string, HostStateArray>> {
    await this.flush();
    return { ...this.store.arrays(), generation: this.generation };
  }

  /** The next epoch uses every example again: the store must hold this epoch's writes first. */
  async epochEnd(): Promise<null> {
    await this.flush();
    return null;
  }
}

/**
 * The transfer gain ATTA relies on, on the probe batch (BN eval, current weights): loss and accuracy after k attack
 * steps from each example's stored perturbation (uncropped: the probe batch is unaugmented) vs k steps from a
 * uniform random start.
 */
async function attaProbes(o: AttaOptions, p: ProbeContext): Promise<ProbeValues> {
  const { store } = p.method as Atta;
  const n = p.x.shape[0];
  p.model.eval();
  const attack = { threat: p.threat, stepSize: o.stepSize, steps: o.steps };
  const forward = (v: Tensor) => p.model.forward(v);
  const stored = keep(
    tidy(() => {
      const start = add(
        p.x,
        tensor(store.crop({ indices: Uint32Array.from({ length: n }, (_, i) => i), augment: null }), p.x.shape, {
          name: 'atta_probe_start',
        }),
      );
      return pgdPerturb(forward, p.x, p.y, { ...attack, start }, noAttackPasses());
    }),
  );
  const random = keep(
    tidy(() =>
      pgdPerturb(forward, p.x, p.y, { ...attack, seed: p.seed, stream: PROBE_STREAM + p.step }, noAttackPasses()),
    ),
  );
  const s = await lossAccuracy(p, stored).finally(() => stored.dispose());
  const r = await lossAccuracy(p, random).finally(() => random.dispose());
  return {
    stored_start_loss: s.loss,
    stored_start_accuracy: s.accuracy,
    random_start_loss: r.loss,
    random_start_accuracy: r.accuracy,
  };
}

export default defineMethod({
  name: 'atta',
  summary:
    "ATTA-k (Zheng et al. 2020): k attack steps (BN eval) from each example's perturbation carried across epochs through crop and flip, then one SGD step",
  options: {
    steps: {
      kind: 'int',
      min: 1,
      max: 1000,
      default: 1,
      help: "attack steps K per minibatch, from the example's carried perturbation",
    },
    stepSize: stepSize(
      (o) => ((o.steps as number) <= 1 ? 0.015 : (o.steps as number) <= 3 ? 0.01 : 0.007),
      "attack step size (the code's data-config: 0.015, 0.01, 0.007 for K = 1, 3, 10)",
      '0.015 / 0.01 / 0.007 for K = 1 / 2-3 / 4+',
    ),
    reset: {
      kind: 'int',
      min: 0,
      max: 100000,
      default: 10,
      help: 're-initialise every perturbation to 0.001·N(0,1) every R epochs (0: never; the code resets at epochs 10, 20, 30)',
    },
  },
  short: ['steps'],
  shortLetters: ['K'],
  cost: (o) => ({ ...noPasses(), forward: o.steps + 1, backwardInputOnly: o.steps, backwardWeights: 1, sgdSteps: 1 }),
  create: (o, env) => new Atta(o, env),
  probes: attaProbes,
});
