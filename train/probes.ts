// Reuse diagnostics during training (`advfree train --probe reuse`): every few minibatches the method's probes run
// on a held batch through a model counted by their own pass meter, so their passes are reported as probe overhead
// and never added to the method's cost. Batch norm runs with frozen running statistics (or in eval mode, as a
// probe chooses); modes, weights and the optimizer's state are restored afterwards.
import { rt, valueAndGrads, type Tensor } from '../engine/index.js';
import type { Method, ProbeContext, ProbeValues, TrainModel } from '../adversarial/method.js';
import type { ResolvedMethod } from '../adversarial/registry.js';
import type { ThreatModel } from '../adversarial/threat.js';
import type { Optimizer } from '../nn/optim.js';
import type { Classifier } from '../nn/model.js';
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
    if (!probe) throw new Error(`--probe reuse: method '${resolved.descriptor.name}' declares no reuse probes (its descriptor has no 'probes')`);
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
