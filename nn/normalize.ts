// Input normalisation inside the classifier, (x - mean) / std per channel, for models trained elsewhere on
// normalised inputs: attacks keep working on images in [0, 1] (the eps ball and the box are in pixel space) and
// the gradient flows through the normalisation to the pixels.
import { batchNorm, keep, tensor, type Tensor } from '../engine/index.js';

export interface Normalization {
  mean: number[];
  std: number[];
}

/**
 * Parses 'MEAN,STD' (one value for every channel) or 'M1,M2,M3,S1,S2,S3' (per channel), e.g.
 * '0.4914,0.4822,0.4465,0.2471,0.2435,0.2616' for CIFAR-10's statistics.
 */
export function parseNormalization(flag: string, v: string, channels = 3): Normalization {
  const parts = v.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (
    (parts.length !== 2 && parts.length !== 2 * channels) ||
    parts.some((s) => s === '') ||
    !nums.every(Number.isFinite)
  ) {
    throw new Error(
      `--${flag} must be MEAN,STD or ${channels} means then ${channels} stds, comma-separated (e.g. 0.4914,0.4822,0.4465,0.2471,0.2435,0.2616), got '${v}'`,
    );
  }
  const per = (xs: number[]) => (xs.length === 1 ? Array(channels).fill(xs[0]) : xs);
  const half = parts.length / 2;
  const n = { mean: per(nums.slice(0, half)), std: per(nums.slice(half)) };
  if (!n.std.every((s) => s > 0)) throw new Error(`--${flag}: every std must be > 0, got ${n.std.join(',')}`);
  return n;
}

export const fmtNormalization = (n: Normalization): string => `(x - [${n.mean.join(', ')}]) / [${n.std.join(', ')}]`;

/**
 * The normalisation as an eval-mode batch norm with constant statistics: running mean = mean, running variance 1
 * (with an eps that vanishes next to 1 in f32, so 1/sqrt(var + eps) is exactly 1) and gamma = 1/std, beta 0.
 */
export class InputNormalization {
  private readonly gamma: Tensor;
  private readonly beta: Tensor;
  private readonly mean: Tensor;
  private readonly unitVar: Tensor;

  constructor(readonly spec: Normalization) {
    const c = spec.mean.length;
    if (spec.std.length !== c) throw new Error(`normalization: ${c} means but ${spec.std.length} stds`);
    this.gamma = keep(
      tensor(
        spec.std.map((s) => 1 / s),
        [c],
        { name: 'normalize.inv_std' },
      ),
    );
    this.beta = keep(tensor(new Float32Array(c), [c], { name: 'normalize.zero' }));
    this.mean = keep(tensor(spec.mean, [c], { name: 'normalize.mean' }));
    this.unitVar = keep(tensor(new Float32Array(c).fill(1), [c], { name: 'normalize.unit_var' }));
  }

  forward(x: Tensor): Tensor {
    return batchNorm(
      x,
      this.gamma,
      this.beta,
      { runningMean: this.mean, runningVar: this.unitVar },
      { training: false, eps: 1e-30 },
    );
  }

  dispose(): void {
    for (const t of [this.gamma, this.beta, this.mean, this.unitVar]) t.dispose();
  }
}
