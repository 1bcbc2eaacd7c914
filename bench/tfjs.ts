// TensorFlow.js with its WebGPU backend on the same Dawn bindings and adapter as our engine, as the peer the
// benchmarks compare against, and the single-op cases written in its ops (NHWC / HWIO layouts).
import type * as TF from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { create } from 'webgpu';
import { packageVersion } from './env.js';
import { HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, OIHW_TO_HWIO, permute } from './host.js';
import { convInputs, matmulInputs, type OpCase, type OpRunner } from './op-cases.js';

export type Tf = typeof TF;
type Shape4 = [number, number, number, number];

export interface TfjsPeer {
  tf: Tf;
  /** The adapter tfjs got, named as our Gpu names its adapter. */
  adapter: string;
  version: string;
  /** Submits tfjs's recorded work and waits until the GPU has finished it. */
  sync(): Promise<void>;
  /** GPU milliseconds of the dispatches `f` records (tfjs's own timestamp profiling), or null without timestamps. */
  gpuMs(f: () => void): Promise<number | null>;
}

let opened: Promise<TfjsPeer> | null = null;

/**
 * Loads tfjs and its WebGPU backend on a Dawn instance created with `flags` (the same backend/adapter choice as
 * ours). Once per process: tfjs keeps one backend.
 */
export function openTfjs(flags: string[]): Promise<TfjsPeer> {
  opened ??= load(flags);
  return opened;
}

async function load(flags: string[]): Promise<TfjsPeer> {
  const gpu = create(flags);
  const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
  // The backend registers itself at import time only if navigator.gpu exists, so it is set before the import.
  // Node 20 has no navigator; later versions have one without `gpu`.
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  g.navigator!.gpu = gpu;
  const tf: Tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('advfree bench: the tfjs WebGPU backend failed to initialise');
  const backend = tf.backend() as unknown as WebGPUBackend;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = adapter?.info;
  const name = info
    ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ')
    : 'unknown';
  const timestamps = backend.device.features.has('timestamp-query');
  return {
    tf,
    adapter: name,
    version: `@tensorflow/tfjs ${packageVersion('@tensorflow/tfjs')}, tfjs-backend-webgpu ${packageVersion('@tensorflow/tfjs-backend-webgpu')}`,
    async sync() {
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
      await backend.device.queue.onSubmittedWorkDone();
    },
    async gpuMs(f) {
      if (!timestamps) return null;
      const t = await tf.time(f);
      return typeof t.kernelMs === 'number' ? t.kernelMs : null;
    },
  };
}

/** A case in tfjs ops; the conv gradients call the kernels tfjs's own conv2d gradient uses. */
export function tfjsRunner(peer: TfjsPeer, c: OpCase, seed: number): OpRunner {
  const { tf } = peer;
  let inputs: TF.Tensor[];
  let op: () => TF.Tensor;
  let toOurs: (d: Float32Array) => Float32Array = (d) => d;
  if (c.kind === 'matmul') {
    const { a, b } = matmulInputs(c.n, seed);
    const [A, B] = (inputs = [tf.tensor2d(a, [c.n, c.n]), tf.tensor2d(b, [c.n, c.n])]);
    op = () => tf.matMul(A, B);
  } else {
    const h = convInputs(c, seed);
    const act: Shape4 = [c.N, c.H, c.H, c.C];
    const wShape: Shape4 = [3, 3, c.C, c.C];
    const [x, w, dy] = (inputs = [
      tf.tensor4d(permute(h.x, [c.N, c.C, c.H, c.H], NCHW_TO_NHWC), act),
      tf.tensor4d(permute(h.w, [c.C, c.C, 3, 3], OIHW_TO_HWIO), wShape),
      tf.tensor4d(permute(h.dy, [c.N, c.C, c.H, c.H], NCHW_TO_NHWC), act),
    ]);
    const attrs = { strides: 1, pad: 1, dataFormat: 'NHWC' };
    const engine = tf.engine();
    if (c.kind === 'conv-forward') op = () => tf.conv2d(x as TF.Tensor4D, w as TF.Tensor4D, 1, 1);
    else if (c.kind === 'conv-input-grad')
      op = () => engine.runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: act }) as TF.Tensor;
    else op = () => engine.runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape }) as TF.Tensor;
    toOurs =
      c.kind === 'conv-weight-grad' ? (d) => permute(d, wShape, HWIO_TO_OIHW) : (d) => permute(d, act, NHWC_TO_NCHW);
  }
  return {
    run: () => op().dispose(),
    sync: () => peer.sync(),
    async output() {
      const t = op();
      try {
        return toOurs((await t.data()) as Float32Array);
      } finally {
        t.dispose();
      }
    },
    dispose: () => inputs.forEach((t) => t.dispose()),
  };
}
