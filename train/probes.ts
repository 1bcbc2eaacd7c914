// Reuse diagnostics during training (`advfree train --probe reuse`): every few minibatches the method's probes run
// on a held batch through a model counted by their own pass meter, so their passes are reported as probe overhead
// and never added to the method's cost. Batch norm runs with frozen running statistics (or in eval mode, as a
// probe chooses); modes, weights and the optimizer's state are restored afterwards. The method's end-of-epoch check
// (a guard) runs on the same held batch.
import { rt, valueAndGrads, type Tensor } from '../engine/index.js';
import type { Method, ProbeContext, ProbeValues, TrainModel } from '../adversarial/method.js';
import type { ResolvedMethod } from '../adversarial/registry.js';
import type { ThreatModel } from '../adversarial/threat.js';
import type { Optimizer } from '../nn/optim.js';
import type { Classifier } from '../nn/model.js';
import type { SplitData } from '../data/dataset.js';
import { uploadRange } from '../data/loader.js';
import type { Metrics } from './metrics.js';
import { countedModel } from './model.js';
import { PassMeter } from './passes.js';

/** The probe kinds `--probe` accepts. */
export const PROBE_KINDS = ['reuse'] as const;

export class ProbeRunner {
  /** The probes' passes, apart from the method's. */
  readonly meter: PassMeter;
  private readonly model: TrainModel;
  private readonly probe: NonNullable<ResolvedMethod['descriptor']['probes']>;
  seconds = 0;

  constructor(
    net: Classifier,
    private readonly opt: Optimizer,
    private readonly resolved: ResolvedMethod,
    private readonly method: Method,
    private readonly threat: ThreatModel,
    /** The learning rate of the next SGD iteration, without advancing the schedule. */
    private readonly lr: () => number,
  ) {
    const probe = resolved.descriptor.probes;
    if (!probe)
      throw new Error(
        `--probe reuse: method '${resolved.descriptor.name}' declares no reuse probes (its descriptor has no 'probes')`,
      );
    this.probe = probe;
    this.meter = new PassMeter(net.parameters());
    this.model = countedModel(net, this.meter);
  }

  /** Runs the method's probes on the held batch after minibatch `step`. */
  async run(held: { x: Tensor; y: Tensor }, step: number, seed: number): Promise<ProbeValues> {
    // The training steps queued so far finish first, so that `seconds` is the probes' time alone.
    await rt().sync();
    const t0 = performance.now();
    const { model, opt } = this;
    const weights = () => model.params.map(([, p]) => p.tensor);
    const ctx: ProbeContext = {
      model,
      x: held.x,
      y: held.y,
      state: this.method.state?.() ?? {},
      method: this.method,
      threat: this.threat,
      step,
      seed,
      weights,
      grad: (f, wrt, s) => valueAndGrads(f, wrt, { seed: s }),
      afterStep: async (grads, fn) => {
        // Host copies restore bit-exactly (a copy kernel of a*x + b would turn -0 into +0).
        const live = [...weights(), ...Object.values(opt.state)];
        const saved = await Promise.all(live.map((t) => t.data()));
        const counters = opt.counters();
        try {
          opt.step(grads, this.lr());
          return await fn();
        } finally {
          live.forEach((t, i) => t.write(saved[i]));
          opt.setCounters(counters);
        }
      },
    };
    model.train();
    model.freezeBatchNorm(true);
    try {
      return await this.meter.measure(() => this.probe(this.resolved.options as never, ctx));
    } finally {
      model.train();
      model.freezeBatchNorm(false);
      this.seconds += (performance.now() - t0) / 1000;
    }
  }
}

/** The first training examples, unaugmented: a batch the method never trains on in this form (the caller disposes it). */
export const heldBatch = (train: SplitData, batch: number): { x: Tensor; y: Tensor } =>
  uploadRange(train, 0, Math.min(batch, train.count), 'held');

/** The method's end-of-epoch check (e.g. a guard) on the held batch; null for a method without one. */
export async function methodCheck(
  method: Method,
  model: TrainModel,
  train: SplitData,
  batch: number,
): Promise<{ stop: boolean; note: string } | null> {
  if (!method.epochEnd) return null;
  const held = heldBatch(train, batch);
  try {
    return await method.epochEnd(model, held);
  } finally {
    held.x.dispose();
    held.y.dispose();
  }
}

/** The probes of a run: on its held batch every `every` minibatches, each time a metrics line of type 'probe'. */
export class ProbeSchedule {
  private readonly held: { x: Tensor; y: Tensor };

  constructor(
    readonly runner: ProbeRunner,
    train: SplitData,
    batch: number,
    private readonly every: number,
    private readonly metrics: Metrics,
    private readonly seed: number,
  ) {
    this.held = heldBatch(train, batch);
  }

  /** After global minibatch `step`: probes if it is due, the line carrying `at` (epoch, SGD iteration, epoch progress). */
  async after(step: number, at: { epoch: number; iteration: number; epoch_progress: number }): Promise<void> {
    if (step % this.every !== 0) return;
    const values = await this.runner.run(this.held, step, this.seed);
    this.metrics.emit('probe', step, {
      ...at,
      ...values,
      probe_passes: { ...this.runner.meter.passes },
      probe_seconds: this.runner.seconds,
    });
  }

  dispose(): void {
    this.held.x.dispose();
    this.held.y.dispose();
  }
}
