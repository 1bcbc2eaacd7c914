// advfree: a WebGPU tensor and autodiff engine for adversarial-training research, as a library: the engine, the
// WideResNet and its data loader, the training methods and their registry, the attacks, and the trainer.
export * from './engine/index.js';
export { WideResNet, parseArch, archName, type WrnConfig } from './nn/wrn.js';
export { Module, type Param, type ParamRole } from './nn/module.js';
export { Conv2d, BatchNorm2d, Linear, Init, freezeBatchNorm } from './nn/layers.js';
export { Adam, createOptimizer, OPTIMIZERS, Sgd, type AdamOptions, type Optimizer, type OptimizerName, type SgdOptions } from './nn/optim.js';
export { Loader, uploadRange, type Batch, type GpuBatch, type LoaderOptions, type LoaderPosition } from './data/loader.js';
export { loadModel, saveModel } from './nn/checkpoint.js';
export * from './adversarial/method.js';
export * from './adversarial/options.js';
export { METHODS, registerMethod, findMethod, resolveMethod, parseShortForm, shortForm, describeMethod, declaredCost, createMethod, type ResolvedMethod } from './adversarial/registry.js';
export * from './adversarial/attacks/index.js';
export { evaluateRobust, type AttackSpec } from './adversarial/evaluate.js';
export { Trainer, type RunConfig, type Datasets, type EpochSummary, type TrainOptions } from './train/trainer.js';
export { Harness } from './train/harness.js';
export { PassMeter } from './train/passes.js';
export { countedModel, type Classifier } from './train/model.js';
export { stepContext, plainBatch } from './train/context.js';
