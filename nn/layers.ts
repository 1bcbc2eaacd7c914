// The layers the models are built of, with PyTorch's parameter names. Initialisation: the reference WRN's
// (conv weights normal(0, sqrt(2 / (k·k·Cout))), linear biases zero) or PyTorch's defaults (kaiming_uniform with
// a = sqrt(5): weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))), as each model's reference does.
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

/** 'wrn': the reference WideResNet's initialisation; 'pytorch': torch.nn's defaults. */
export type InitScheme = 'wrn' | 'pytorch';

/** Seeds parameter initialisation: each tensor draws from its own counter-based stream. */
export class Init {
  private stream = 0;
  constructor(readonly seed: number) {}
  next(): number {
    return this.stream++;
  }
}

/** U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for weights (kaiming_uniform, a = sqrt(5)) and biases. */
const fanInUniform = (shape: number[], fanIn: number, init: Init, name: string): Tensor =>
  keep(randomUniform(shape, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn), init.seed, init.next(), name));

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
    init: Init,
    opts: { bias?: boolean; scheme?: InitScheme } = {},
  ) {
    super();
    const shape = [outChannels, inChannels, kernel, kernel];
    const fanIn = inChannels * kernel * kernel;
    this.weight =
      opts.scheme === 'pytorch'
        ? fanInUniform(shape, fanIn, init, 'conv.weight')
        : keep(
            randomNormal(
              shape,
              0,
              Math.sqrt(2 / (kernel * kernel * outChannels)),
              init.seed,
              init.next(),
              'conv.weight',
            ),
          );
    this.bias = opts.bias ? fanInUniform([outChannels], fanIn, init, 'conv.bias') : null;
  }

  protected override ownParams(): [string, Param][] {
    const p: [string, Param][] = [['weight', { tensor: this.weight, role: 'conv' }]];
    if (this.bias) p.push(['bias', { tensor: this.bias, role: 'bias' }]);
    return p;
  }

  /** With `residual`, returns conv(x) + residual, the add fused into the convolution; with `relu`, the ReLU too. */
  forward(x: Tensor, residual?: Tensor, relu = false): Tensor {
    return conv2d(x, this.weight, {
      stride: this.stride,
      padding: this.padding,
      bias: this.bias ?? undefined,
      residual,
      relu,
    });
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

  constructor(
    readonly channels: number,
    readonly momentum = 0.1,
    readonly eps = 1e-5,
  ) {
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
    return batchNorm(
      x,
      this.weight,
      this.bias,
      { runningMean: this.runningMean, runningVar: this.runningVar },
      {
        training: this.training,
        // Momentum 0 keeps the running statistics: running = (1 - 0)·running + 0·batch.
        momentum: this.frozen ? 0 : this.momentum,
        eps: this.eps,
        relu,
      },
    );
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    init: Init,
    opts: { scheme?: InitScheme } = {},
  ) {
    super();
    // Both schemes draw the weight as PyTorch does; the reference WRN zeroes the bias.
    this.weight = fanInUniform([outFeatures, inFeatures], inFeatures, init, 'fc.weight');
    this.bias =
      opts.scheme === 'pytorch'
        ? fanInUniform([outFeatures], inFeatures, init, 'fc.bias')
        : keep(zeros([outFeatures], 'fc.bias'));
  }

  protected override ownParams(): [string, Param][] {
    return [
      ['weight', { tensor: this.weight, role: 'linear-weight' }],
      ['bias', { tensor: this.bias, role: 'bias' }],
    ];
  }

  /** With `relu`, the ReLU after it, fused into the same kernel. */
  forward(x: Tensor, relu = false): Tensor {
    return linear(x, this.weight, this.bias, { relu });
  }
}

/** Freezes (or unfreezes) the running statistics of every BatchNorm2d in a model. */
export function freezeBatchNorm(model: Module, frozen: boolean): void {
  for (const m of model.modules()) if (m instanceof BatchNorm2d) m.frozen = frozen;
}
