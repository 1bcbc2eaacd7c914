// What a model is. Each file in nn/models/ declares one family (`export default defineModel({...})`): its name
// pattern, the configs its names stand for, the input shapes it accepts, the PyTorch state_dict of its reference
// definition, its FLOPs and how to build it. The registry (nn/registry.ts) is generated from that folder; the
// trainer, eval, show, bench, checkpoints and the reader of foreign checkpoints all go through it.
import type { Tensor } from '../engine/index.js';
import { Module } from './module.js';
import type { InputNormalization } from './normalize.js';
import type { TensorSpec } from './safetensors-file.js';

/**
 * A classifier: logits [N, classes] from inputs [N, ...shape], split after its first layer (a linear map of the
 * input: YOPO's Hamiltonian is taken there), with an optional input normalisation in front (eval --normalize).
 */
export abstract class Classifier extends Module {
  /** Applied to the input first, for models trained on normalised inputs; not saved. */
  normalization: InputNormalization | null = null;
  /** State-dict names of the first layer's parameters. */
  abstract readonly firstLayer: readonly string[];

  protected abstract firstLayerForward(x: Tensor): Tensor;

  /** Logits from the first layer's output. */
  abstract rest(h: Tensor): Tensor;

  /** The input after the normalisation, if any. */
  protected normalized(x: Tensor): Tensor {
    return this.normalization ? this.normalization.forward(x) : x;
  }

  /** The first layer's output (after the input normalisation). */
  first(x: Tensor): Tensor {
    return this.firstLayerForward(this.normalized(x));
  }

  forward(x: Tensor): Tensor {
    return this.rest(this.first(x));
  }

  override dispose(): void {
    super.dispose();
    this.normalization?.dispose();
  }
}

/** A model of one family for one input shape and number of classes, checked on the host, not yet allocated. */
export interface ResolvedModel {
  /** The canonical name (wrn-34-10 for wrn-32-10). */
  name: string;
  input: readonly number[];
  classes: number;
  /** The state_dict of the reference PyTorch definition, in its order (parameters and buffers). */
  layout: [string, TensorSpec][];
  /** FLOPs of one forward pass of one example (multiply-adds count 2). */
  flops: number;
  /** The shape of one example's largest activation (a layer's output), for the check that a batch fits the adapter. */
  activation: readonly number[];
  /** Builds it on the GPU with seeded initialisation; throws before allocating what the adapter cannot hold. */
  build(seed: number): Classifier;
}

export interface ModelDescriptor {
  /** The family's name pattern, for help: wrn-DEPTH-WIDTH, mlp-WIDTHxDEPTH, mnist-net. */
  pattern: string;
  summary: string;
  /** Whether `name` belongs to this family (its errors are then the ones to report). */
  matches(name: string): boolean;
  /** Checks the name alone (its pattern and size bounds, whatever the data), for flags; throws naming the problem. */
  check(name: string): void;
  /**
   * The model `name` stands for, on inputs of `input` shape (one sample) with `classes` outputs. Throws naming the
   * problem: a malformed name, a size over the limits, an input shape the model does not accept.
   */
  resolve(name: string, input: readonly number[], classes: number): ResolvedModel;
  /** The state_dict tensor whose first dimension is the number of classes, for checkpoints without metadata. */
  head(name: string): string;
  /**
   * The name of the model a foreign state_dict (no metadata) holds, from its tensors' names and shapes, or why
   * it is not this family's.
   */
  infer(tensors: Record<string, TensorSpec>): string | { not: string };
}

/** Declares a model family (one file in nn/models/). */
export const defineModel = (d: ModelDescriptor): ModelDescriptor => d;
