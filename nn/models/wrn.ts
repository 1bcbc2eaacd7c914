// WideResNet WRN-d-k with pre-activation blocks, in exactly the layout of the adversarial-robustness ecosystem's
// PyTorch model (RobustBench / TRADES / Madry), so that state_dict names, shapes and semantics match one to one.
import { globalAvgPool, rt, type Tensor } from '../../engine/index.js';
import { BatchNorm2d, Conv2d, Init, Linear } from '../layers.js';
import { Classifier, defineModel } from '../model.js';
import { Module } from '../module.js';
import {
  blocksPerGroup,
  checkWrnFits,
  checkWrnSize,
  inferWrnConfig,
  wrnChannels,
  wrnTensorSpecs,
} from './wrn-layout.js';

export interface WrnConfig {
  depth: number;
  width: number;
  classes: number;
  /** Channels of the input images (3 for CIFAR, 1 for MNIST). */
  inChannels: number;
}

/**
 * Parses 'wrn-16-1', 'wrn-28-10', 'wrn-34-10'; 'wrn-32-10' is the paper's name for WRN-34-10 (5 blocks a group).
 * Depth and total size are bounded here (no GPU needed); what one tensor may take is the adapter's to say (WideResNet).
 */
export function parseArch(arch: string, classes = 10, inChannels = 3): WrnConfig {
  const m = /^wrn-(\d+)-(\d+)$/i.exec(arch.trim());
  if (!m) throw new Error(`unknown model '${arch}': expected wrn-DEPTH-WIDTH, e.g. wrn-16-1, wrn-28-10, wrn-34-10`);
  let depth = Number(m[1]);
  const width = Number(m[2]);
  if (depth === 32) depth = 34;
  if ((depth - 4) % 6 !== 0 || depth < 10) {
    throw new Error(`model '${arch}': depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 34, ...), or 32 for WRN-34`);
  }
  if (width < 1) throw new Error(`model '${arch}': width must be >= 1`);
  if (!Number.isSafeInteger(classes) || classes < 1)
    throw new Error(`model '${arch}': classes must be a positive integer, got ${classes}`);
  const config = { depth, width, classes, inChannels };
  checkWrnSize(config);
  return config;
}

export const archName = (c: WrnConfig): string => `wrn-${c.depth}-${c.width}`;

/** Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3, with a 1x1 conv shortcut where the shape changes. */
class BasicBlock extends Module {
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly convShortcut: Conv2d | null;

  constructor(inPlanes: number, outPlanes: number, stride: number, init: Init) {
    super();
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv1 = new Conv2d(inPlanes, outPlanes, 3, stride, 1, init);
    this.bn2 = new BatchNorm2d(outPlanes);
    this.conv2 = new Conv2d(outPlanes, outPlanes, 3, 1, 1, init);
    this.convShortcut = inPlanes === outPlanes ? null : new Conv2d(inPlanes, outPlanes, 1, stride, 0, init);
  }

  protected override children(): [string, Module][] {
    const c: [string, Module][] = [
      ['bn1', this.bn1],
      ['conv1', this.conv1],
      ['bn2', this.bn2],
      ['conv2', this.conv2],
    ];
    if (this.convShortcut) c.push(['convShortcut', this.convShortcut]);
    return c;
  }

  forward(x: Tensor): Tensor {
    const a = this.bn1.forward(x, true);
    // As in the reference: with a shortcut conv, the shortcut also sees the pre-activated input. The residual
    // add is fused into conv2's store.
    const shortcut = this.convShortcut ? this.convShortcut.forward(a) : x;
    return this.conv2.forward(this.bn2.forward(this.conv1.forward(a), true), shortcut);
  }
}

/** A group of blocks, named `layer.0`, `layer.1`, ... like the reference's nn.Sequential. */
class NetworkBlock extends Module {
  readonly blocks: BasicBlock[];

  constructor(n: number, inPlanes: number, outPlanes: number, stride: number, init: Init) {
    super();
    this.blocks = Array.from(
      { length: n },
      (_, i) => new BasicBlock(i === 0 ? inPlanes : outPlanes, outPlanes, i === 0 ? stride : 1, init),
    );
  }

  protected override children(): [string, Module][] {
    return this.blocks.map((b, i) => [`layer.${i}`, b]);
  }

  forward(x: Tensor): Tensor {
    return this.blocks.reduce((h, b) => b.forward(h), x);
  }
}

export class WideResNet extends Classifier {
  readonly conv1: Conv2d;
  readonly block1: NetworkBlock;
  readonly block2: NetworkBlock;
  readonly block3: NetworkBlock;
  readonly bn1: BatchNorm2d;
  readonly fc: Linear;

  constructor(
    readonly config: WrnConfig,
    seed = 0,
  ) {
    super();
    const { depth, width, classes } = config;
    // Before the first allocation: a tensor over the adapter's limits would fail inside Dawn.
    checkWrnFits(config, rt().device.limits);
    const n = blocksPerGroup(depth);
    const ch = wrnChannels(width);
    const init = new Init(seed);
    this.conv1 = new Conv2d(config.inChannels, ch[0], 3, 1, 1, init);
    this.block1 = new NetworkBlock(n, ch[0], ch[1], 1, init);
    this.block2 = new NetworkBlock(n, ch[1], ch[2], 2, init);
    this.block3 = new NetworkBlock(n, ch[2], ch[3], 2, init);
    this.bn1 = new BatchNorm2d(ch[3]);
    this.fc = new Linear(ch[3], classes, init);
    // Name every tensor after its state_dict key, so errors point at the layer.
    for (const [name, p] of this.namedParameters()) p.tensor.name = name;
    for (const [name, b] of this.namedBuffers()) if ('tensor' in b) b.tensor.name = name;
  }

  protected override children(): [string, Module][] {
    return [
      ['conv1', this.conv1],
      ['block1', this.block1],
      ['block2', this.block2],
      ['block3', this.block3],
      ['bn1', this.bn1],
      ['fc', this.fc],
    ];
  }

  /** The first layer (conv1: linear, no bias, no BN), where YOPO splits the network. */
  protected firstLayerForward(x: Tensor): Tensor {
    return this.conv1.forward(x);
  }

  /** Logits from the first layer's output. */
  rest(h: Tensor): Tensor {
    const z = this.block3.forward(this.block2.forward(this.block1.forward(h)));
    return this.fc.forward(globalAvgPool(this.bn1.forward(z, true)));
  }

  /** State-dict names of the first layer's parameters. */
  readonly firstLayer = ['conv1.weight'];
}

export default defineModel({
  pattern: 'wrn-DEPTH-WIDTH',
  summary:
    'WideResNet (Zagoruyko and Komodakis 2016) with pre-activation blocks, in the RobustBench / TRADES layout; depth 6n+4',
  matches: (name) => /^wrn-/i.test(name.trim()),
  check: (name) => void parseArch(name),
  resolve(name, input, classes) {
    if (input.length !== 3)
      throw new Error(
        `model '${name}' takes images [C, H, W], not inputs of shape [${input.join(', ')}]; use mlp-WIDTHxDEPTH for tabular data`,
      );
    const config = parseArch(name, classes, input[0]);
    const [, h, w] = input;
    const layout = wrnTensorSpecs(config);
    // Convolutions at H x W, then two halvings of the resolution (ceil); 3x3 kernels, 1x1 shortcuts.
    const ch = wrnChannels(config.width);
    const n = blocksPerGroup(config.depth);
    const res = [
      [h, w],
      [h, w],
      [Math.ceil(h / 2), Math.ceil(w / 2)],
      [Math.ceil(h / 4), Math.ceil(w / 4)],
    ];
    let macs = res[0][0] * res[0][1] * ch[0] * config.inChannels * 9;
    for (let g = 1; g <= 3; g++) {
      const px = res[g][0] * res[g][1];
      for (let i = 0; i < n; i++) {
        const cin = i === 0 ? ch[g - 1] : ch[g];
        macs += px * ch[g] * (cin * 9 + ch[g] * 9 + (cin !== ch[g] ? cin : 0));
      }
    }
    macs += ch[3] * classes;
    // The widest activation is the first group's output (later groups double the channels on a quarter of the pixels).
    const activation = [ch[1], h, w];
    return {
      name: archName(config),
      input,
      classes,
      layout,
      flops: 2 * macs,
      activation,
      build: (seed) => new WideResNet(config, seed),
    };
  },
  head: () => 'fc.weight',
  infer(tensors) {
    const c = inferWrnConfig(tensors);
    return typeof c === 'string' ? { not: c } : archName(c);
  },
});
