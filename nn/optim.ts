// The optimizers over a model's parameters, behind one interface (the trainer, the step context, the probes and
// the training state use only that): torch.optim.SGD with momentum and torch.optim.Adam, each one fused kernel
// per parameter tensor.
import { adamStep, keep, sgdStep, zeros, type Tensor } from '../engine/index.js';
import type { Param, ParamRole } from './module.js';

/** The names `--optimizer` accepts. */
export const OPTIMIZERS = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export interface DecayOptions {
  /** L2 weight decay, added to the gradient (PyTorch's coupled form, for Adam too: not AdamW). */
  weightDecay: number;
  /** 'all' decays every parameter (the official free-training code); 'weights' only conv and linear weights. */
  decay: 'all' | 'weights';
}

export interface SgdOptions extends DecayOptions {
  momentum: number;
  nesterov: boolean;
}

export interface AdamOptions extends DecayOptions {
  betas: readonly [number, number];
  eps: number;
}

/** torch.optim.Adam's defaults. */
export const ADAM_DEFAULTS = { betas: [0.9, 0.999] as const, eps: 1e-8 };

/** The weight decay a parameter of `role` gets under `opts`. */
export const decayOf = (role: ParamRole, opts: DecayOptions): number =>
  opts.decay === 'all' || role === 'conv' || role === 'linear-weight' ? opts.weightDecay : 0;

export interface Optimizer {
  readonly name: OptimizerName;
  readonly params: readonly [string, Param][];
  /** One update of every parameter from its gradient (`grads[i]` for `params[i]`) at learning rate `lr`. */
  step(grads: readonly Tensor[], lr: number): void;
  /** Its state tensors under the names the training state stores them by. */
  readonly state: Readonly<Record<string, Tensor>>;
  /** The host numbers of its state (Adam's step count), for the training state; {} for SGD. */
  counters(): Record<string, number>;
  /** Restores what counters() returned; refuses a missing or invalid entry, naming it. */
  setCounters(saved: Readonly<Record<string, number>>): void;
  dispose(): void;
}

/** One zero tensor per parameter, named `<prefix>.<param>`. */
const zerosLike = (params: readonly [string, Param][], prefix: string): Tensor[] =>
  params.map(([name, p]) => keep(zeros(p.tensor.shape, `${prefix}.${name}`)));

const named = (params: readonly [string, Param][], prefix: string, ts: readonly Tensor[]): [string, Tensor][] =>
  params.map(([name], i) => [`${prefix}.${name}`, ts[i]]);

/** torch.optim.SGD (dampening 0); its state is the momentum buffers `momentum.<param>`. */
export class Sgd implements Optimizer {
  readonly name = 'sgd';
  readonly momenta: Tensor[];
  readonly state: Readonly<Record<string, Tensor>>;
  private readonly decays: number[];

  constructor(
    readonly params: readonly [string, Param][],
    readonly opts: SgdOptions,
  ) {
    this.momenta = zerosLike(params, 'momentum');
    this.state = Object.fromEntries(named(params, 'momentum', this.momenta));
    this.decays = params.map(([, p]) => decayOf(p.role, opts));
  }

  step(grads: readonly Tensor[], lr: number): void {
    this.params.forEach(([, p], i) =>
      sgdStep(p.tensor, grads[i], this.momenta[i], {
        lr,
        momentum: this.opts.momentum,
        nesterov: this.opts.nesterov,
        weightDecay: this.decays[i],
      }),
    );
  }

  counters(): Record<string, number> {
    return {};
  }

  setCounters(): void {}

  dispose(): void {
    for (const m of this.momenta) m.dispose();
  }
}

/**
 * torch.optim.Adam (amsgrad off, L2 weight decay coupled to the gradient); its state is PyTorch's: the moments
 * `exp_avg.<param>`, `exp_avg_sq.<param>` and the step count `step` (one for all parameters: they step together).
 */
export class Adam implements Optimizer {
  readonly name = 'adam';
  readonly expAvg: Tensor[];
  readonly expAvgSq: Tensor[];
  readonly state: Readonly<Record<string, Tensor>>;
  /** Updates taken; the next is number steps + 1. */
  steps = 0;
  private readonly decays: number[];

  constructor(
    readonly params: readonly [string, Param][],
    readonly opts: AdamOptions,
  ) {
    this.expAvg = zerosLike(params, 'exp_avg');
    this.expAvgSq = zerosLike(params, 'exp_avg_sq');
    this.state = Object.fromEntries([
      ...named(params, 'exp_avg', this.expAvg),
      ...named(params, 'exp_avg_sq', this.expAvgSq),
    ]);
    this.decays = params.map(([, p]) => decayOf(p.role, opts));
  }

  step(grads: readonly Tensor[], lr: number): void {
    const step = ++this.steps;
    const { betas, eps } = this.opts;
    this.params.forEach(([, p], i) =>
      adamStep(p.tensor, grads[i], this.expAvg[i], this.expAvgSq[i], {
        lr,
        step,
        betas,
        eps,
        weightDecay: this.decays[i],
      }),
    );
  }

  counters(): Record<string, number> {
    return { step: this.steps };
  }

  setCounters(saved: Readonly<Record<string, number>>): void {
    const s = saved.step;
    if (!Number.isSafeInteger(s) || s < 0)
      throw new Error(`Adam's state needs its step count 'step', a non-negative integer; got ${s}`);
    this.steps = s;
  }

  dispose(): void {
    for (const m of [...this.expAvg, ...this.expAvgSq]) m.dispose();
  }
}

/** The optimizer `name` over `params`; Adam takes PyTorch's betas and eps unless given, SGD ignores them. */
export function createOptimizer(
  name: OptimizerName,
  params: readonly [string, Param][],
  opts: SgdOptions & Partial<AdamOptions>,
): Optimizer {
  if (name === 'sgd') return new Sgd(params, opts);
  if (name === 'adam')
    return new Adam(params, { ...opts, betas: opts.betas ?? ADAM_DEFAULTS.betas, eps: opts.eps ?? ADAM_DEFAULTS.eps });
  throw new Error(`unknown optimizer '${name}' (known: ${OPTIMIZERS.join(', ')})`);
}
