// The layers a WideResNet needs, with PyTorch's parameter names and the reference initialisation.
import {
  batchNorm,
  conv2d,
  fill,
  keep,
  linear,
  randomNormal,
  randomUniform,
  zeros,
  type Tensor,
} from '../engine/index.js';
import { Module, type Buffer, type Param } from './module.js';

/** Seeds parameter initialisation: each tensor draws from its own counter-based stream. */
export class Init {
  private stream = 0;
  constructor(readonly seed: number) {}
  next(): number {
    return this.stream++;
  }
}

export class Conv2d extends Module {
  readonly weight: Tensor;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
    init: Init,
  ) {
    super();
    // The reference WRN initialisation: normal(0, sqrt(2 / (kH·kW·Cout))).
    const std = Math.sqrt(2 / (kernel * kernel * outChannels));
    this.weight = keep(randomNormal([outChannels, inChannels, kernel, kernel], 0, std, init.seed, init.next(), 'conv.weight'));
  }

  protected override ownParams(): [string, Param][] {
    return [['weight', { tensor: this.weight, role: 'conv' }]];
  }

  /** With `residual`, returns conv(x) + residual, the add fused into the convolution. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return conv2d(x, this.weight, { stride: this.stride, padding: this.padding, residual });
  }
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  /** PyTorch's num_batches_tracked, kept on the host (it is saved, never used by the kernels). */
  batchesTracked = 0n;
  /** In training mode, normalize with batch statistics but leave the running statistics alone (attack steps). */
  frozen = false;

  constructor(readonly channels: number, readonly momentum = 0.1, readonly eps = 1e-5) {
    super();
    this.weight = keep(fill([channels], 1, 'bn.weight'));
    this.bias = keep(zeros([channels], 'bn.bias'));
    this.runningMean = keep(zeros([channels], 'bn.running_mean'));
    this.runningVar = keep(fill([channels], 1, 'bn.running_var'));
  }

  protected override ownParams(): [string, Param][] {
    return [
      ['weight', { tensor: this.weight, role: 'bn' }],
      ['bias', { tensor: this.bias, role: 'bn' }],
    ];
  }

  protected override ownBuffers(): [string, Buffer][] {
    return [
      ['running_mean', { tensor: this.runningMean }],
      ['running_var', { tensor: this.runningVar }],
      ['num_batches_tracked', { int64: () => this.batchesTracked, setInt64: (v) => (this.batchesTracked = v) }],
    ];
  }

  /** Batch norm, optionally followed by a fused ReLU. */
  forward(x: Tensor, relu = false): Tensor {
    if (this.training && !this.frozen) this.batchesTracked++;
    return batchNorm(x, this.weight, this.bias, { runningMean: this.runningMean, runningVar: this.runningVar }, {
      training: this.training,
      // Momentum 0 keeps the running statistics: running = (1 - 0)·running + 0·batch.
      momentum: this.frozen ? 0 : this.momentum,
      eps: this.eps,
      relu,
    });
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly inFeatures: number, readonly outFeatures: number, init: Init) {
    super();
    // PyTorch's default Linear weight init (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(in), 1/sqrt(in));
    // the reference WRN zeroes the bias.
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = keep(randomUniform([outFeatures, inFeatures], -bound, bound, init.seed, init.next(), 'fc.weight'));
    this.bias = keep(zeros([outFeatures], 'fc.bias'));
  }

  protected override ownParams(): [string, Param][] {
    return [
      ['weight', { tensor: this.weight, role: 'linear-weight' }],
      ['bias', { tensor: this.bias, role: 'bias' }],
    ];
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Freezes (or unfreezes) the running statistics of every BatchNorm2d in a model. */
export function freezeBatchNorm(model: Module, frozen: boolean): void {
  for (const m of model.modules()) if (m instanceof BatchNorm2d) m.frozen = frozen;
}
