// For by-value tests of a training method against a host re-implementation: two identical tiny models (one the
// method trains through the harness, one the reference trains op by op), the inputs the method's model saw, and
// a comparison of the two models' full state (weights, BN running statistics and counters).
import * as assert from 'uvu/assert';
import { tensor, type Tensor } from '../engine/index.js';
import type { Module } from '../nn/module.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { assertClose, randu } from './helpers.js';

export const [B, C, H, W] = [4, 3, 8, 8];
export const SHAPE = [B, C, H, W];
const SGD = { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' as const };

export function twin(seed = 7) {
  const model = new WideResNet(parseArch('wrn-10-1', 10), seed);
  const params = model.namedParameters();
  const opt = new Sgd(params, SGD);
  return {
    model,
    params,
    opt,
    weights: () => params.map(([, p]) => p.tensor),
    dispose: () => (opt.dispose(), model.dispose()),
  };
}

/** Images in [0, 1] with some pixels exactly at 0 and 1, so the [0, 1] clamp acts; labels in [0, 10). */
export function batch(seed: number): { x: Float64Array; y: Int32Array } {
  const x = Float64Array.from(Float32Array.from(randu(B * C * H * W, seed)));
  for (let i = 0; i < x.length; i += 5) x[i] = (i / 5) % 2;
  return { x, y: Int32Array.from({ length: B }, (_, i) => (seed * 3 + i * 7) % 10) };
}

export const upload = (x: ArrayLike<number>, name: string): Tensor => tensor(Float32Array.from(x), SHAPE, { name });

/** Records (as readbacks) every input `model.forward` sees from now on. */
export function recordInputs(model: WideResNet): Promise<Float32Array>[] {
  const seen: Promise<Float32Array>[] = [];
  const forward = model.forward.bind(model);
  model.forward = (v: Tensor) => (seen.push(v.data()), forward(v));
  return seen;
}

/** Weights, BN running statistics and batch counters of two models agree. */
export async function assertSameState(a: Module, b: Module, what: string): Promise<void> {
  const pa = a.namedParameters();
  const pb = b.namedParameters();
  for (const [k, [name, p]] of pa.entries())
    assertClose(await p.tensor.data(), await pb[k][1].tensor.data(), `${what}: ${name}`, 1e-5, 1e-6);
  const ba = a.namedBuffers();
  const bb = b.namedBuffers();
  for (const [k, [name, buf]] of ba.entries()) {
    const other = bb[k][1];
    if ('tensor' in buf && 'tensor' in other)
      assertClose(await buf.tensor.data(), await other.tensor.data(), `${what}: ${name}`, 1e-5, 1e-6);
    else if ('int64' in buf && 'int64' in other) assert.is(buf.int64(), other.int64(), `${what}: ${name}`);
  }
}

export const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));
