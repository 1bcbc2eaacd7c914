// mnist-net: the MNIST model of Wong, Rice and Kolter 2020 ("Fast is better than free", locuslab/fast_adversarial,
// MNIST/mnist_net.py): Conv2d(1,16,4,s2,p1) ReLU Conv2d(16,32,4,s2,p1) ReLU Flatten Linear(1568,100) ReLU
// Linear(100,10), with that torch.nn.Sequential's state_dict keys and PyTorch's default initialisation, so that
// checkpoints trained by their code (converted to safetensors) load here and predict the same.
import { relu, reshape, rt, type Tensor } from '../../engine/index.js';
import { Conv2d, Init, Linear } from '../layers.js';
import { Classifier, defineModel } from '../model.js';
import { checkModelFits } from '../model-size.js';
import type { Module } from '../module.js';
import type { TensorSpec } from '../safetensors-file.js';

const NAME = 'mnist-net';
const INPUT = [1, 28, 28];

class MnistNet extends Classifier {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly firstLayer = ['0.weight', '0.bias'];

  constructor(classes: number, seed: number) {
    super();
    const init = new Init(seed);
    const torch = { scheme: 'pytorch' as const };
    this.conv1 = new Conv2d(1, 16, 4, 2, 1, init, { bias: true, ...torch });
    this.conv2 = new Conv2d(16, 32, 4, 2, 1, init, { bias: true, ...torch });
    this.fc1 = new Linear(32 * 7 * 7, 100, init, torch);
    this.fc2 = new Linear(100, classes, init, torch);
    for (const [name, p] of this.namedParameters()) p.tensor.name = name;
  }

  /** The Sequential's indices: 1, 3, 4 and 6 are the parameter-free ReLUs and Flatten. */
  protected override children(): [string, Module][] {
    return [
      ['0', this.conv1],
      ['2', this.conv2],
      ['5', this.fc1],
      ['7', this.fc2],
    ];
  }

  protected firstLayerForward(x: Tensor): Tensor {
    return this.conv1.forward(x);
  }

  /** The whole pass with every ReLU fused into the layer before it (the split keeps conv1's output pre-activation). */
  override forward(x: Tensor): Tensor {
    return this.afterConv1(this.conv1.forward(this.normalized(x), undefined, true));
  }

  rest(h: Tensor): Tensor {
    return this.afterConv1(relu(h));
  }

  private afterConv1(a: Tensor): Tensor {
    const z = this.conv2.forward(a, undefined, true);
    return this.fc2.forward(this.fc1.forward(reshape(z, [z.shape[0], 32 * 7 * 7]), true));
  }
}

function layout(classes: number): [string, TensorSpec][] {
  const f32 = (...shape: number[]): TensorSpec => ({ dtype: 'F32', shape });
  return [
    ['0.weight', f32(16, 1, 4, 4)],
    ['0.bias', f32(16)],
    ['2.weight', f32(32, 16, 4, 4)],
    ['2.bias', f32(32)],
    ['5.weight', f32(100, 1568)],
    ['5.bias', f32(100)],
    ['7.weight', f32(classes, 100)],
    ['7.bias', f32(classes)],
  ];
}

export default defineModel({
  pattern: NAME,
  summary:
    "Wong et al.'s MNIST CNN (fast_adversarial): two stride-2 4x4 convolutions, then 1568-100-classes; 28x28 grey-scale inputs",
  matches: (name) => name.trim() === NAME,
  check: () => {},
  resolve(name, input, classes) {
    if (input.join(',') !== INPUT.join(',')) {
      throw new Error(
        `model '${name}' takes 28x28 grey-scale images [1, 28, 28] (its Linear(1568) is fixed), not inputs of shape [${input.join(', ')}]`,
      );
    }
    const l = layout(classes);
    checkModelFits(NAME, l, { maxBufferSize: Infinity, maxStorageBufferBindingSize: Infinity });
    // Multiply-adds: conv1 at 14x14, conv2 at 7x7, then the two linear layers.
    const macs = 14 * 14 * 16 * 16 + 7 * 7 * 32 * 16 * 16 + 1568 * 100 + 100 * classes;
    return {
      // conv1's output [16, 14, 14] is the largest activation (the input has 784 values, conv2's output 1568).
      name: NAME,
      input,
      classes,
      layout: l,
      flops: 2 * macs,
      activation: [16, 14, 14],
      build: (seed) => {
        checkModelFits(NAME, l, rt().device.limits);
        return new MnistNet(classes, seed);
      },
    };
  },
  head: () => '7.weight',
  infer(tensors) {
    const w = tensors['5.weight']?.shape;
    const c = tensors['0.weight']?.shape;
    if (!c || c.join(',') !== '16,1,4,4' || !w || w.join(',') !== '100,1568')
      return { not: "no '0.weight' [16, 1, 4, 4] and '5.weight' [100, 1568]" };
    return NAME;
  },
});
