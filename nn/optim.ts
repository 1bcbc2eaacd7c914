// SGD with momentum over a model's parameters (PyTorch's torch.optim.SGD update, one fused kernel a tensor).
import { keep, sgdStep, zeros, type Tensor } from '../engine/index.js';
import type { Param, ParamRole } from './module.js';

export interface SgdOptions {
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  /** 'all' decays every parameter (the official free-training code); 'weights' only conv and linear weights. */
  decay: 'all' | 'weights';
}

/** The weight decay a parameter of `role` gets under `opts`. */
export const decayOf = (role: ParamRole, opts: SgdOptions): number =>
  opts.decay === 'all' || role === 'conv' || role === 'linear-weight' ? opts.weightDecay : 0;

export class Sgd {
  readonly momenta: Tensor[];
  private readonly decays: number[];

  constructor(
    readonly params: readonly [string, Param][],
    readonly opts: SgdOptions,
  ) {
    this.momenta = params.map(([name, p]) => keep(zeros(p.tensor.shape, `momentum.${name}`)));
    this.decays = params.map(([, p]) => decayOf(p.role, opts));
  }

  /** One update of every parameter from its gradient (`grads[i]` for `params[i]`). */
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

  dispose(): void {
    for (const m of this.momenta) m.dispose();
  }
}
