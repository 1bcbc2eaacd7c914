// Tiny models and data for the attack tests, over images [N, C, S, S]: a linear model on channel means (its
// input gradient and exact robustness computed in float64 by the tests), and a conv-BN-ReLU-pool-linear net
// trained by full-batch SGD, attacked in eval mode.
import {
  argmax,
  globalAvgPool,
  init,
  linear,
  softmaxCrossEntropy,
  tensor,
  tidy,
  valueAndGrads,
  type Tensor,
} from '../engine/index.js';
import type { Classifier } from '../adversarial/attacks/index.js';
import type { ExampleSource } from '../adversarial/evaluate.js';
import { ThreatModel } from '../adversarial/threat.js';
import { BatchNorm2d, Conv2d, Init, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { Sgd } from '../nn/optim.js';
import { rng } from './helpers.js';

export interface Dims {
  n: number;
  c: number;
  s: number;
  k: number;
}

/**
 * Class of example i: i mod k; its pattern brightens channel l mod c by `signal` on average (for k > c only in
 * quadrant floor(l / c) of the image, so up to 4c classes differ) on pixels uniform in [0, 0.7]; 10% of the
 * pixels are exactly 0 or 1, so clipping to the image range is exercised.
 */
export function makeData(d: Dims, seed: number, signal = 0.06): { x: Float32Array; labels: Int32Array } {
  const r = rng(seed);
  const p = d.s * d.s;
  const x = new Float32Array(d.n * d.c * p);
  const labels = Int32Array.from({ length: d.n }, (_, i) => i % d.k);
  for (let i = 0; i < d.n; i++) {
    const l = labels[i];
    for (let c = 0; c < d.c; c++) {
      for (let q = 0; q < p; q++) {
        const u = r();
        const quadrant = (Math.floor(q / d.s) < d.s / 2 ? 0 : 2) + (q % d.s < d.s / 2 ? 0 : 1);
        const inside = d.k <= d.c || quadrant === Math.floor(l / d.c) % 4;
        const boost = c === l % d.c && inside ? signal * (d.k > d.c ? 4 : 1) : 0;
        x[(i * d.c + c) * p + q] = u < 0.05 ? 0 : u > 0.95 ? 1 : 0.7 * r() + boost;
      }
    }
  }
  return { x, labels };
}

/** logits = W·(channel means of x) + b, W [k, c]. */
export class LinearModel {
  readonly w: Tensor;
  readonly b: Tensor;
  constructor(
    readonly W: Float64Array,
    readonly B: Float64Array,
    readonly c: number,
  ) {
    this.w = tensor(Float32Array.from(W), [B.length, c], { name: 'W' });
    this.b = tensor(Float32Array.from(B), [B.length], { name: 'b' });
  }
  readonly classify: Classifier = (x) => linear(globalAvgPool(x), this.w, this.b);
  dispose(): void {
    this.w.dispose();
    this.b.dispose();
  }
  /** Float64 logits of one example from its channel means. */
  logits(means: ArrayLike<number>): number[] {
    return Array.from(this.B, (bk, k) => bk + Array.from(means).reduce((s, m, c) => s + this.W[k * this.c + c] * m, 0));
  }
}

/** Channel means of example i of NCHW data with c channels of p pixels, in float64. */
export function channelMeans(data: ArrayLike<number>, i: number, c: number, p: number): number[] {
  return Array.from({ length: c }, (_, ch) => {
    let s = 0;
    for (let q = 0; q < p; q++) s += data[(i * c + ch) * p + q];
    return s / p;
  });
}

export class TinyNet extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly fc: Linear;
  constructor(c: number, k: number, seed: number, width = 4) {
    super();
    const init = new Init(seed);
    this.conv = new Conv2d(c, width, 3, 1, 1, init);
    this.bn = new BatchNorm2d(width);
    this.fc = new Linear(width, k, init);
  }
  protected override children(): [string, Module][] {
    return [
      ['conv', this.conv],
      ['bn', this.bn],
      ['fc', this.fc],
    ];
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(globalAvgPool(this.bn.forward(this.conv.forward(x), true)));
  }
}

/** The batch on the GPU and a TinyNet trained on it (full-batch SGD, lr 0.3), in eval mode. */
export async function trainedBatch(
  d: Dims,
  data: { x: Float32Array; labels: Int32Array },
  net: { seed: number; width?: number; steps: number },
) {
  await init();
  const x = tensor(data.x, [d.n, d.c, d.s, d.s], { name: 'x' });
  const y = tensor(data.labels, [d.n], { name: 'y' });
  const m = trainNet(new TinyNet(d.c, d.k, net.seed, net.width), x, y, net.steps, 0.3);
  return { x, y, net: m, classify: ((v) => m.forward(v)) as Classifier };
}

/** Full-batch SGD steps in training mode (BN statistics update), then eval mode. */
export function trainNet(m: TinyNet, x: Tensor, y: Tensor, steps: number, lr: number): TinyNet {
  const params = m.namedParameters();
  const sgd = new Sgd(params, { momentum: 0.9, nesterov: false, weightDecay: 0, decay: 'weights' });
  for (let s = 0; s < steps; s++) {
    tidy(() => {
      const { grads } = valueAndGrads(
        () => softmaxCrossEntropy(m.forward(x), y),
        params.map(([, p]) => p.tensor),
      );
      sgd.step(grads, lr);
    });
  }
  sgd.dispose();
  return m.eval();
}

/** Whether the classifier gets each row of v right (an independent forward pass). */
export async function correctOn(classify: Classifier, v: Tensor, labels: ArrayLike<number>): Promise<boolean[]> {
  const pred = tidy(() => argmax(classify(v)));
  const p = await pred.ints();
  pred.dispose();
  return Array.from(labels, (l, i) => p[i] === l);
}

/** Largest |adv − x| and the range of adv, in float64. */
export async function extent(adv: Tensor, x: ArrayLike<number>): Promise<{ dist: number; lo: number; hi: number }> {
  const a = await adv.data();
  let dist = 0;
  for (let i = 0; i < a.length; i++) dist = Math.max(dist, Math.abs(a[i] - x[i]));
  return { dist, lo: Math.min(...a), hi: Math.max(...a) };
}

/** The L-inf threat model of radius eps over images [c, s, s] in [0, 1], every pixel mutable. */
export const linfImages = (eps: number, c: number, s: number): ThreatModel =>
  ThreatModel.image({ norm: 'linf', eps }, [c, s, s]);

/** Host rows of `shape` [N, ...] as an evaluation's examples: each batch uploaded afresh (the evaluation disposes it). */
export function hostSource(
  x: Float32Array,
  shape: readonly number[],
  labels: Int32Array,
  images = shape.length === 4,
): ExampleSource {
  const row = x.length / shape[0];
  return {
    count: shape[0],
    labels,
    images,
    batch: (lo, n) => ({
      x: tensor(x.slice(lo * row, (lo + n) * row), [n, ...shape.slice(1)], { name: 'x' }),
      y: tensor(labels.slice(lo, lo + n), [n], { name: 'y' }),
    }),
  };
}
