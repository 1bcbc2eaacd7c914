export { init, rt, shutdown } from './context.js';
export { Gpu, icdOverride, NoAdapterError, type AdapterDescription, type GpuOptions } from './gpu.js';
export type { Runtime, RuntimeOptions, DispatchCounters } from './runtime.js';
export { Tensor, tensor, empty, numel, memory, type DType, type Shape, type HostArray } from './tensor.js';
export { tidy, keep } from './scope.js';
// Autodiff: valueAndGrads(f, wrt, { seed?, createGraph? }); with createGraph, inside another valueAndGrads's
// function, the gradients are recorded on the outer tape (gradients of gradients). record/BackwardFn let a new
// op declare its backward; build that backward of recorded ops so it can be differentiated again.
export { valueAndGrads, onBackward, type GradOptions, type BackwardListener } from './autodiff.js';
export { record, accumulated, type Accumulated, type BackwardFn } from './record.js';
export { ShapeError } from './check.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/loss.js';
export * from './ops/optimizer.js';
export * from './ops/conv2d.js';
export * from './ops/augment.js';
export * from './ops/batchnorm.js';
export * from './ops/pool.js';
export * from './ops/matmul.js';
export * from './ops/perturb.js';
export { mix, mulberry32, hostUniform } from './random.js';
