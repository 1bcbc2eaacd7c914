export { init, rt, shutdown } from './context.js';
export { Gpu, NoAdapterError, type AdapterDescription, type GpuOptions } from './gpu.js';
export type { Runtime, RuntimeOptions, DispatchCounters } from './runtime.js';
export { Tensor, tensor, empty, numel, type DType, type Shape, type HostArray } from './tensor.js';
export { tidy, keep } from './scope.js';
export { valueAndGrads, record, type BackwardFn } from './tape.js';
export { ShapeError } from './check.js';
export * from './ops/elementwise.js';
