// mlp-WIDTHxDEPTH: DEPTH hidden layers Linear+ReLU of WIDTH units, then a Linear to the classes, on the flattened
// input, with the keys of the equivalent torch.nn.Sequential (0.weight, 0.bias, 2.weight, ...: the ReLUs take the
// odd indices) and PyTorch's default initialisation. The model for tabular data.
import { relu, reshape, rt, type Tensor } from '../../engine/index.js';
import { Init, Linear } from '../layers.js';
import { Classifier, defineModel } from '../model.js';
import { checkModelFits } from '../model-size.js';
import type { Module } from '../module.js';
import type { TensorSpec } from '../safetensors-file.js';

const PATTERN = /^mlp-(\d+)x(\d+)$/;
const MAX_WIDTH = 65536;
const MAX_DEPTH = 64;

interface MlpConfig {
  width: number;
  depth: number;
}

function parse(name: string): MlpConfig {
  const m = PATTERN.exec(name.trim());
  if (!m)
    throw new Error(`unknown model '${name}': expected mlp-WIDTHxDEPTH, e.g. mlp-256x3 (3 hidden layers of 256 units)`);
  const [width, depth] = [Number(m[1]), Number(m[2])];
  if (width < 1 || width > MAX_WIDTH)
    throw new Error(`model '${name}': width must be in [1, ${MAX_WIDTH}], got ${width}`);
  if (depth < 1 || depth > MAX_DEPTH)
    throw new Error(`model '${name}': depth (hidden layers) must be in [1, ${MAX_DEPTH}], got ${depth}`);
  return { width, depth };
}

/** In/out features of each Linear, input first. */
const sizes = (c: MlpConfig, inFeatures: number, classes: number): [number, number][] =>
  Array.from({ length: c.depth + 1 }, (_, i) => [i === 0 ? inFeatures : c.width, i === c.depth ? classes : c.width]);

class Mlp extends Classifier {
  readonly layers: Linear[];
  readonly firstLayer = ['0.weight', '0.bias'];

  constructor(
    c: MlpConfig,
    private readonly inFeatures: number,
    classes: number,
    seed: number,
  ) {
    super();
    const init = new Init(seed);
    this.layers = sizes(c, inFeatures, classes).map(([i, o]) => new Linear(i, o, init, { scheme: 'pytorch' }));
    for (const [name, p] of this.namedParameters()) p.tensor.name = name;
  }

  protected override children(): [string, Module][] {
    return this.layers.map((l, i) => [String(2 * i), l]);
  }

  /** The first Linear, on the input flattened to [N, features]. */
  protected firstLayerForward(x: Tensor, relu = false): Tensor {
    return this.layers[0].forward(x.rank === 2 ? x : reshape(x, [x.shape[0], this.inFeatures]), relu);
  }

  /** The whole pass with every ReLU fused into the Linear before it (the split keeps the first one's output pre-activation). */
  override forward(x: Tensor): Tensor {
    return this.hidden(this.firstLayerForward(this.normalized(x), true));
  }

  rest(h: Tensor): Tensor {
    return this.hidden(relu(h));
  }

  /** Layers 1.. on the first hidden layer's activation. */
  private hidden(a: Tensor): Tensor {
    const last = this.layers.length - 1;
    return this.layers.slice(1).reduce((z, l, i) => l.forward(z, i + 1 < last), a);
  }
}

export default defineModel({
  pattern: 'mlp-WIDTHxDEPTH',
  summary:
    'multi-layer perceptron: DEPTH hidden Linear+ReLU layers of WIDTH units on the flattened input (tabular data)',
  matches: (name) => /^mlp-/.test(name.trim()),
  check: (name) => void parse(name),
  resolve(name, input, classes) {
    const c = parse(name);
    const inFeatures = input.reduce((a, d) => a * d, 1);
    if (!(inFeatures >= 1))
      throw new Error(`model '${name}' needs at least one input feature, got shape [${input.join(', ')}]`);
    const layout: [string, TensorSpec][] = sizes(c, inFeatures, classes).flatMap(
      ([i, o], k): [string, TensorSpec][] => [
        [`${2 * k}.weight`, { dtype: 'F32', shape: [o, i] }],
        [`${2 * k}.bias`, { dtype: 'F32', shape: [o] }],
      ],
    );
    const canonical = `mlp-${c.width}x${c.depth}`;
    checkModelFits(canonical, layout, { maxBufferSize: Infinity, maxStorageBufferBindingSize: Infinity });
    const flops = 2 * sizes(c, inFeatures, classes).reduce((n, [i, o]) => n + i * o, 0);
    return {
      name: canonical,
      input,
      classes,
      layout,
      flops,
      activation: [Math.max(inFeatures, c.width, classes)],
      build: (seed) => {
        checkModelFits(canonical, layout, rt().device.limits);
        return new Mlp(c, inFeatures, classes, seed);
      },
    };
  },
  head: (name) => `${2 * parse(name).depth}.weight`,
  infer(tensors) {
    let depth = 0;
    while (tensors[`${2 * (depth + 1)}.weight`]) depth++;
    const w0 = tensors['0.weight']?.shape;
    if (!w0 || w0.length !== 2 || depth < 1 || tensors['1.weight']) {
      return { not: "no Sequential of Linear layers '0.weight', '2.weight', ... with ReLUs between" };
    }
    return `mlp-${w0[0]}x${depth}`;
  },
});
