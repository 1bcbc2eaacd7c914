// The process-wide runtime: opened once by `init()`, used synchronously by every op afterwards.
import { Gpu } from './gpu.js';
import { Runtime, type RuntimeOptions } from './runtime.js';

let current: Runtime | null = null;
let opening: Promise<Runtime> | null = null;

/** Opens the WebGPU device (once; later calls return the same runtime). */
export function init(opts: RuntimeOptions = {}): Promise<Runtime> {
  if (current) return Promise.resolve(current);
  opening ??= Gpu.open(opts)
    .then((gpu) => (current = new Runtime(gpu, opts)))
    .finally(() => (opening = null));
  return opening;
}

/** The open runtime; throws if `init()` has not completed. */
export function rt(): Runtime {
  if (!current) throw new Error('advfree: the engine is not initialised: `await init()` first');
  return current;
}

/** Destroys the device so the process can exit. Tensors still alive become unusable. */
export function shutdown(): void {
  current?.flush();
  current?.gpu.destroy();
  current = null;
}
