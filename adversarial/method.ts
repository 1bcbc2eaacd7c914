// What a training method is, and what the training layer hands it. A method is one file holding its descriptor
// (name, typed options with defaults, short form, declared cost per minibatch) and its step. The training layer
// (train/) implements the step context: the model (counted), gradients (counted), the SGD step and the batch's
// provenance (example indices and augmentation), so passes are measured, never counted by hand in a method.
import type { Shape, Tensor } from '../engine/index.js';
import type { Param } from '../nn/module.js';
import type { OptionSpecs, OptionsOf, OptionValue } from './options.js';
import type { Norm, ThreatModel } from './threat.js';

/** Work done, in passes over a minibatch. */
export interface PassCounts {
  /** Full forward passes through the model. */
  forward: number;
  /** Full backward passes that produced weight gradients (and possibly the input gradient). */
  backwardWeights: number;
  /** Full backward passes that produced only input (or intermediate) gradients: attack steps. */
  backwardInputOnly: number;
  /**
   * Full backward passes that also differentiate a recorded (createGraph) backward pass, i.e. gradients of
   * gradients: double backpropagation through an input-gradient penalty (GradAlign, gradnorm). Each costs a
   * first-order backward plus a reverse pass through the recorded one.
   */
  backwardSecondOrder: number;
  /** Forward passes through the model's first layer alone (YOPO's inner steps). */
  partialForward: number;
  /** Backward passes through the first layer alone. */
  partialBackward: number;
  sgdSteps: number;
}

export const PASS_KINDS = [
  'forward',
  'backwardWeights',
  'backwardInputOnly',
  'backwardSecondOrder',
  'partialForward',
  'partialBackward',
  'sgdSteps',
] as const;

export const noPasses = (): PassCounts => ({
  forward: 0,
  backwardWeights: 0,
  backwardInputOnly: 0,
  backwardSecondOrder: 0,
  partialForward: 0,
  partialBackward: 0,
  sgdSteps: 0,
});

/** Adds `from`'s counts (times `sign`) to `into`, kind by kind, for the kinds both hold (an attack's tally holds fewer). */
export function addPasses(into: Partial<PassCounts>, from: Partial<PassCounts>, sign = 1): void {
  for (const k of PASS_KINDS) {
    const v = from[k];
    if (into[k] !== undefined && v !== undefined) into[k] += sign * v;
  }
}

/** The classifier a method trains. Every call is counted by the training layer. */
export interface TrainModel {
  /** Logits [N, classes] for a batch of inputs [N, ...]: one full forward pass. */
  forward(x: Tensor): Tensor;
  /** The model split after its first layer (YOPO), where the architecture allows it. */
  readonly split?: {
    /** The first layer's output. A partial forward pass, unless `rest` completes it. */
    first(x: Tensor): Tensor;
    /** Logits from the first layer's output: completes a full forward pass. */
    rest(h: Tensor): Tensor;
    /** Indices into `params` of the first layer's parameters. */
    readonly firstParams: readonly number[];
  };
  readonly params: readonly [string, Param][];
  /** Batch norm from batch statistics (training) or running statistics (eval). */
  train(): void;
  eval(): void;
  /** In training mode, normalise with batch statistics but leave the running statistics alone. */
  freezeBatchNorm(frozen: boolean): void;
}

/** Where a minibatch came from, so per-example state can be mapped back through the augmentation. */
export interface BatchInfo {
  /** Dataset indices of the examples, in batch order. */
  indices: Uint32Array;
  epoch: number;
  /** Crop offsets into the zero-padded image (pad each side) and horizontal flips, per example; null without
   * augmentation (the crop is then at (pad, pad) = no shift, no flip). */
  augment: { pad: number; dy: Int32Array; dx: Int32Array; flip: Uint8Array } | null;
}

export interface GradResult {
  value: Tensor;
  grads: Tensor[];
}

export interface StepContext {
  model: TrainModel;
  /** The global minibatch index, for seeding per-step randomness reproducibly (a resumed run repeats it). */
  step: number;
  /** The run's seed. */
  seed: number;
  batch: BatchInfo;
  /** The parameter tensors, in `model.params` order. */
  weights(): Tensor[];
  /**
   * valueAndGrads, counted: a backward pass with weight gradients when `wrt` holds a parameter, else input-only;
   * partial when `f` ran no full forward pass.
   */
  grad(f: () => Tensor, wrt: readonly Tensor[], seed?: Tensor): GradResult;
  /** One step of the run's optimizer (SGD or Adam) of every parameter from `grads` (in `weights()` order) at the schedule's next learning rate. */
  sgdStep(grads: readonly Tensor[]): void;
  /**
   * The generic update: one forward+backward of any differentiable loss (its function returns the scalar loss
   * and the logits it judges `correct` by), then one SGD step. `leaves` also get gradients from the same backward
   * (free training's perturbation).
   */
  update(
    loss: () => { loss: Tensor; logits: Tensor },
    y: Tensor,
    leaves?: readonly Tensor[],
  ): StepResult & { leafGrads: Tensor[] };
}

export interface StepResult {
  /** Mean loss of the last update, shape [1]. */
  loss: Tensor;
  /** Correctly classified examples of that pass, shape [1]. */
  correct: Tensor;
}

export interface Method {
  /** Trains on one minibatch x [N, ...] with labels y [N]. */
  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult;
  /** Tensors the method carries between steps (free training's delta): saved in the training state, and written
   * in place on resume. Absent: it carries none. */
  state?(): Record<string, Tensor>;
  /** Host arrays the method carries (ATTA's per-example store), once every pending write to them has landed:
   * saved in the training state beside state()'s tensors, and written in place on resume. */
  hostState?(): Promise<Record<string, HostStateArray>>;
  /** Called after each epoch with a held, unaugmented training batch; may stop the run (FGSM-RS's guard). */
  epochEnd?(model: TrainModel, held: { x: Tensor; y: Tensor }): Promise<{ stop: boolean; note: string } | null>;
  /** Frees what the method holds (absent: it holds nothing between steps). */
  dispose?(): void;
}

/** A host array of the training state (safetensors I8, U8, I32). */
export type HostStateArray = Int8Array | Uint8Array | Int32Array;

/** What a method is built with besides its options. */
export interface MethodEnv {
  /** [batch size, ...sample shape] of a full minibatch. */
  batchShape: Shape;
  /** The run's threat model: every perturbation the method makes stays in its ball, box and mask. */
  threat: ThreatModel;
  seed: number;
  /** Training examples (per-example state, ATTA). */
  trainSize: number;
  classes: number;
  /** The zero padding of the batches' crop augmentation (absent or 0: the batches are not augmented). */
  augmentPad?: number;
}

/**
 * What a method's probes see (`advfree train --probe reuse`): a held batch, the method's carried state and the
 * model, counted apart from the method's passes. The training layer restores every mode and tensor afterwards
 * and checks nothing: a probe reads the state and never writes it.
 */
export interface ProbeContext {
  /** Batch norm starts in training mode with frozen running statistics (the attack steps' mode); eval() switches
   * to the running statistics. Passes go to the probe meter, not the method's. */
  model: TrainModel;
  /** The held probe batch: the first training images, unaugmented, and their labels. */
  x: Tensor;
  y: Tensor;
  /** The method's carried tensors (its state()). */
  state: Record<string, Tensor>;
  /** The run's threat model. */
  threat: ThreatModel;
  /** The method itself, for what state() does not hold (a host-side store): a probe may read it, never change it. */
  method: Method;
  /** The global minibatch index the probe runs after, and the run's seed: seed probe randomness with them. */
  step: number;
  seed: number;
  weights(): Tensor[];
  /** valueAndGrads, counted by the probe meter. */
  grad(f: () => Tensor, wrt: readonly Tensor[], seed?: Tensor): GradResult;
  /**
   * Runs `fn` at the weights one step of the run's optimizer (its state, weight decay and next learning rate)
   * from `grads` (in `weights()` order) reaches; weights and the optimizer's state are restored bit-exactly afterwards.
   */
  afterStep<T>(grads: readonly Tensor[], fn: () => Promise<T>): Promise<T>;
}

/** Named numbers a probe measured, e.g. {grad_cos_after_update: 0.93}. */
export type ProbeValues = Record<string, number>;

export interface MethodDescriptor<S extends OptionSpecs = OptionSpecs> {
  name: string;
  /** One line for help and the methods table (docs/methods.md). */
  summary: string;
  options: S;
  /** Options written positionally after the name in the short form: free-8, yopo-5-3. */
  short: readonly (keyof S & string)[];
  /** How help writes the positional options, as in the papers: free-M, pgd-K (default: their initials). */
  shortLetters?: readonly string[];
  /** The threat models' norms its perturbations support (default: L-inf only); others are refused before any work. */
  norms?: readonly Norm[];
  /** Passes per minibatch, as declared; a test checks it against what the engine ran. */
  cost(o: OptionsOf<S>): PassCounts;
  create(o: OptionsOf<S>, env: MethodEnv): Method;
  /** Reuse diagnostics: how stale what the method reuses is, measured on the probe batch. */
  probes?(o: OptionsOf<S>, p: ProbeContext): Promise<ProbeValues>;
}

/** Declares a method with its option types inferred from `options`. */
export const defineMethod = <S extends OptionSpecs>(d: MethodDescriptor<S>): MethodDescriptor<S> => d;

/** A method as a run records it: its name and resolved options (flat, JSON). */
export type MethodConfig = { name: string } & Record<string, OptionValue>;
