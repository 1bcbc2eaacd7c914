/// <reference types="@webgpu/types" preserve="true" />
// advfree: a WebGPU tensor and autodiff engine for adversarial-training research, as a library: the engine, the
// datasets and models (registries of one-file plug-ins), the data loader, the threat model, the training methods
// and the attacks with their registries, and the trainer. The package's entry (npm pack bundles it, with the
// declarations; the reference above gives them WebGPU's global types, GPUDevice and the like, in users' code).
export * from './engine/index.js';
export { WideResNet, parseArch, archName, type WrnConfig } from './nn/models/wrn.js';
export { Classifier, defineModel, type ModelDescriptor, type ResolvedModel } from './nn/model.js';
export { MODELS, findModel, resolveModel, inferModel } from './nn/registry.js';
export {
  defineDataset,
  type DatasetDescriptor,
  type LoadedDataset,
  type SplitData,
  type FeatureBox,
  type ThreatDefaults,
} from './data/dataset.js';
export { DATASETS, findDataset, loadDataset } from './data/registry.js';
export { Module, type Param, type ParamRole } from './nn/module.js';
export { Conv2d, BatchNorm2d, Linear, Init, freezeBatchNorm } from './nn/layers.js';
export {
  Adam,
  createOptimizer,
  OPTIMIZERS,
  Sgd,
  type AdamOptions,
  type Optimizer,
  type OptimizerName,
  type SgdOptions,
} from './nn/optim.js';
export {
  Loader,
  uploadRange,
  type Batch,
  type GpuBatch,
  type LoaderOptions,
  type LoaderPosition,
} from './data/loader.js';
export { loadModel, saveModel } from './nn/checkpoint.js';
export * from './adversarial/method.js';
export * from './adversarial/options.js';
export {
  METHODS,
  registerMethod,
  findMethod,
  resolveMethod,
  parseShortForm,
  shortForm,
  describeMethod,
  declaredCost,
  createMethod,
  type ResolvedMethod,
} from './adversarial/registry.js';
export * from './adversarial/threat.js';
export * from './adversarial/attack.js';
export {
  ATTACKS,
  registerAttack,
  findAttack,
  resolveAttack,
  describeAttack,
  createAttack,
  type ResolvedAttack,
} from './adversarial/attack-registry.js';
export * from './adversarial/attacks/index.js';
export { evaluateRobust, splitSource, type ExampleSource, type RobustReport } from './adversarial/evaluate.js';
export { Trainer } from './train/trainer.js';
export type { Datasets, RunConfig, TrainOptions } from './train/run-config.js';
export type { EpochSummary } from './train/epoch.js';
export { Harness } from './train/harness.js';
export { PassMeter } from './train/passes.js';
export { countedModel } from './train/model.js';
export { stepContext, plainBatch } from './train/context.js';
