// Shared test utilities: a seeded host RNG, float64 comparisons and central finite differences.
import * as assert from 'uvu/assert';
import { init, type Tensor, tensor } from '../engine/index.js';

export const ready = async (): Promise<void> => {
  await init();
};

/** Mulberry32: a small seeded PRNG, so every test's data is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export function randu(n: number, seed: number, lo = 0, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** Uploads float64 host data as an f32 tensor. */
export const gpu = (data: ArrayLike<number>, shape: number[], name = 't'): Tensor =>
  tensor(Float32Array.from(data), shape, { name });

/** Asserts |a - e| <= atol + rtol·|e| elementwise, reporting the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-3, atol = 1e-4): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const excess = err - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.unreachable(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`,
    );
  }
}

/** Asserts that `fn` throws an error whose message matches every pattern. */
export function assertThrows(fn: () => unknown, ...patterns: RegExp[]): void {
  let msg: string | null = null;
  try {
    fn();
  } catch (e) {
    msg = (e as Error).message;
  }
  if (msg === null) assert.unreachable(`expected an error matching ${patterns.join(', ')}`);
  for (const p of patterns) assert.match(msg!, p);
}

export interface GradCase {
  /** The op under test on GPU tensors (one per input). */
  gpu: (inputs: Tensor[]) => Tensor;
  /** The same op in float64 on the host: the independent reference. */
  cpu: (inputs: Float64Array[]) => Float64Array;
  inputs: { data: Float64Array; shape: number[]; name?: string }[];
  /** Indices of the inputs to differentiate (default: all). */
  wrt?: number[];
  seed?: number;
  rtol?: number;
  atol?: number;
  /** Finite-difference step (float64, so it can be small). */
  h?: number;
}

/**
 * Checks an op's forward against its float64 reference, and its backward against central finite differences
 * of the float64 reference: for a random cotangent r, d/dx_i sum(cpu(x)·r).
 */
export async function checkGradients(c: GradCase): Promise<void> {
  const { valueAndGrads, tidy } = await import('../engine/index.js');
  const wrt = c.wrt ?? c.inputs.map((_, i) => i);
  const xs = c.inputs.map((inp) => Float64Array.from(inp.data));
  const ref = c.cpu(xs);
  const r = randn(ref.length, c.seed ?? 99);
  const ts = c.inputs.map((inp, i) => gpu(inp.data, inp.shape, inp.name ?? `x${i}`));
  const outShape: number[] = [];
  const { value, grads } = tidy(() => {
    // The seed needs the output's shape: run the op once outside the tape to learn it.
    const probe = c.gpu(ts);
    outShape.push(...probe.shape);
    const seed = gpu(r, outShape, 'seed');
    return valueAndGrads(() => c.gpu(ts), wrt.map((i) => ts[i]), { seed });
  });
  const rtol = c.rtol ?? 1e-3;
  const atol = c.atol ?? 1e-4;
  assertClose(await value.data(), ref, 'forward', rtol, atol);
  const h = c.h ?? 1e-6;
  const objective = () => {
    const y = c.cpu(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r[i];
    return s;
  };
  for (let k = 0; k < wrt.length; k++) {
    const x = xs[wrt[k]];
    const fd = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      x[i] = v + h;
      const up = objective();
      x[i] = v - h;
      const down = objective();
      x[i] = v;
      fd[i] = (up - down) / (2 * h);
    }
    assertClose(await grads[k].data(), fd, `gradient of input ${wrt[k]} (${c.inputs[wrt[k]].name ?? 'x' + wrt[k]})`, rtol, atol);
  }
  for (const t of [value, ...grads, ...ts]) t.dispose();
}
