// Our WideResNet rebuilt in TensorFlow.js ops, layer by layer from the model's own structure (so shapes,
// strides, padding and shortcuts match by construction), with our weights copied in: the peer's training step
// (forward, gradients of the input and every weight, SGD with momentum) on identical numbers. Batch norm uses
// batch statistics, as training does; the running statistics are not updated (a few tiny ops per layer that our
// batch-norm kernel fuses).
import type * as TF from '@tensorflow/tfjs';
import type { Conv2d, BatchNorm2d } from '../nn/layers.js';
import type { WideResNet } from '../nn/models/wrn.js';
import { NHWC_TO_NCHW, OIHW_TO_HWIO, permute } from './host.js';
import type { Tf } from './tfjs.js';

export interface SgdSetting {
  lr: number;
  momentum: number;
  weightDecay: number;
}

export class TfjsWrn {
  /** One variable per parameter of our model, in `namedParameters()` order, in tfjs layouts. */
  readonly params: TF.Variable[];
  private readonly momenta: TF.Variable[];
  private readonly index = new Map<string, number>();
  private readonly forwardFn: Forward;

  /** `weights` are our parameters' values (in our layouts), in `model.namedParameters()` order. */
  constructor(
    private readonly tf: Tf,
    model: WideResNet,
    weights: readonly Float32Array[],
  ) {
    const named = model.namedParameters();
    this.params = named.map(([name, p], i) => {
      this.index.set(name, i);
      const s = p.tensor.shape;
      // Conv weights [Cout,C,kH,kW] become HWIO; everything else keeps its layout.
      return tf.tidy(() =>
        tf.variable(
          p.role === 'conv'
            ? tf.tensor(permute(weights[i], s, OIHW_TO_HWIO), [s[2], s[3], s[1], s[0]])
            : tf.tensor(weights[i], [...s]),
        ),
      );
    });
    this.momenta = this.params.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
    this.forwardFn = wrnForward(tf, model);
  }

  /** The mean cross-entropy, its gradient for x [N,H,W,3], and those of every parameter (in `params` order). */
  lossAndGrads(
    x: TF.Tensor4D,
    y: TF.Tensor1D,
    classes: number,
  ): { loss: TF.Scalar; inputGrad: TF.Tensor; grads: TF.Tensor[] } {
    const { tf } = this;
    const onehot = tf.oneHot(y, classes);
    try {
      const { value, grads } = tf.valueAndGrads((xx: TF.Tensor, ...ws: TF.Tensor[]) => {
        const logits = this.forwardFn(xx as TF.Tensor4D, (name) => ws[this.index.get(name)!]);
        return tf.losses.softmaxCrossEntropy(onehot, logits) as TF.Scalar;
      })([x, ...this.params]);
      return { loss: value as TF.Scalar, inputGrad: grads[0], grads: grads.slice(1) };
    } finally {
      onehot.dispose();
    }
  }

  /** torch.optim.SGD's update (dampening 0, no Nesterov), as our Sgd: buf = μ·buf + g + wd·w; w −= lr·buf. */
  update(grads: readonly TF.Tensor[], o: SgdSetting): void {
    const { tf } = this;
    tf.tidy(() =>
      this.params.forEach((w, i) => {
        const buf = tf.add(tf.mul(this.momenta[i], o.momentum), tf.add(grads[i], tf.mul(w, o.weightDecay)));
        this.momenta[i].assign(buf);
        w.assign(tf.sub(w, tf.mul(buf, o.lr)));
      }),
    );
  }

  /**
   * Each batch norm's ReLU output for x [N,H,W,3], NCHW, by the BN's name: where the backward passes the gradient
   * (tf.relu's gradient is 0 at 0, as ours).
   */
  async reluOutputs(x: TF.Tensor4D): Promise<Map<string, Float32Array>> {
    const names: string[] = [];
    const outs = this.tf.tidy(() => {
      const ys: TF.Tensor4D[] = [];
      this.forwardFn(
        x,
        (name) => this.params[this.index.get(name)!],
        (name, y) => (names.push(name), ys.push(y)),
      );
      return ys;
    });
    try {
      return new Map(
        await Promise.all(
          outs.map(async (y, i): Promise<[string, Float32Array]> => [
            names[i],
            permute((await y.data()) as Float32Array, y.shape, NHWC_TO_NCHW),
          ]),
        ),
      );
    } finally {
      this.tf.dispose(outs);
    }
  }

  dispose(): void {
    for (const v of [...this.params, ...this.momenta]) v.dispose();
  }
}

/** Logits of x (NHWC) with parameters looked up by our names; `onRelu` sees each batch norm's ReLU output. */
type Forward = (
  x: TF.Tensor4D,
  p: (name: string) => TF.Tensor,
  onRelu?: (bn: string, y: TF.Tensor4D) => void,
) => TF.Tensor2D;

/** The forward pass of `model` in tfjs ops (NHWC). */
function wrnForward(tf: Tf, model: WideResNet): Forward {
  return (x, p, onRelu) => {
    const conv = (h: TF.Tensor4D, c: Conv2d, name: string) =>
      tf.conv2d(h, p(`${name}.weight`) as TF.Tensor4D, c.stride, c.padding);
    const bnRelu = (h: TF.Tensor4D, bn: BatchNorm2d, name: string): TF.Tensor4D => {
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      const y = tf.relu(
        tf.batchNorm4d(
          h,
          mean as TF.Tensor1D,
          variance as TF.Tensor1D,
          p(`${name}.bias`) as TF.Tensor1D,
          p(`${name}.weight`) as TF.Tensor1D,
          bn.eps,
        ),
      );
      onRelu?.(name, y);
      return y;
    };
    let h = conv(x, model.conv1, 'conv1');
    for (const [g, group] of [model.block1, model.block2, model.block3].entries()) {
      group.blocks.forEach((b, i) => {
        const at = `block${g + 1}.layer.${i}`;
        const a = bnRelu(h, b.bn1, `${at}.bn1`);
        const out = conv(bnRelu(conv(a, b.conv1, `${at}.conv1`), b.bn2, `${at}.bn2`), b.conv2, `${at}.conv2`);
        // As in our model: a shortcut conv sees the pre-activated input; an identity shortcut, the raw input.
        h = tf.add(b.convShortcut ? conv(a, b.convShortcut, `${at}.convShortcut`) : h, out) as TF.Tensor4D;
      });
    }
    const pooled = tf.mean(bnRelu(h, model.bn1, 'bn1'), [1, 2]) as TF.Tensor2D;
    return tf.add(tf.matMul(pooled, p('fc.weight') as TF.Tensor2D, false, true), p('fc.bias')) as TF.Tensor2D;
  };
}
