// Layers as small modules: named parameters and buffers (PyTorch state_dict names), train/eval mode, and a
// composition tree walked to produce dotted names such as `block1.layer.0.bn1.weight`.
import type { Tensor } from '../engine/index.js';

export type ParamRole = 'conv' | 'linear-weight' | 'bias' | 'bn';

export interface Param {
  tensor: Tensor;
  /** Lets optimizers treat weight decay per kind (e.g. conv/linear weights only). */
  role: ParamRole;
}

/** A non-trainable state tensor (running statistics) or a host-side counter saved with the weights. */
export type Buffer = { tensor: Tensor } | { int64: () => bigint; setInt64: (v: bigint) => void };

export abstract class Module {
  training = true;

  /** Direct children in registration order, with their attribute names. */
  protected children(): [string, Module][] {
    return [];
  }

  protected ownParams(): [string, Param][] {
    return [];
  }

  protected ownBuffers(): [string, Buffer][] {
    return [];
  }

  namedParameters(prefix = ''): [string, Param][] {
    const out = this.ownParams().map(([k, p]) => [prefix + k, p] as [string, Param]);
    for (const [name, child] of this.children()) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Buffer][] {
    const out = this.ownBuffers().map(([k, b]) => [prefix + k, b] as [string, Buffer]);
    for (const [name, child] of this.children()) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /** This module and all its descendants, pre-order (PyTorch's modules()). */
  modules(): Module[] {
    return [this, ...this.children().flatMap(([, c]) => c.modules())];
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p.tensor);
  }

  parameterCount(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /** Sets train (true) or eval (false) mode on this module and every descendant. */
  train(mode = true): this {
    this.training = mode;
    for (const [, c] of this.children()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  dispose(): void {
    for (const [, p] of this.namedParameters()) p.tensor.dispose();
    for (const [, b] of this.namedBuffers()) if ('tensor' in b) b.tensor.dispose();
  }
}
