// Shared test utilities: a seeded host RNG, float64 comparisons, central finite differences and scratch folders.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { init, type Tensor, tensor } from '../engine/index.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { ThreatModel } from '../adversarial/threat.js';

/** A temporary folder for suite `t`, removed after it, and `fresh()`: a new empty folder in it each call. */
export function scratch(t: Test, name: string): { tmp: string; fresh: () => string } {
  const tmp = mkdtempSync(join(tmpdir(), `advfree-${name}-`));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  return {
    tmp,
    fresh: () => {
      const d = join(tmp, `run-${n++}`);
      mkdirSync(d);
      return d;
    },
  };
}

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
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rtol = 1e-3,
  atol = 1e-4,
): void {
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

/** The GEMM kernel variants (engine/ops/gemm-tiled.ts): every matmul and convolution test runs under both. */
export const KERNEL_VARIANTS = ['register', 'tiled'] as const;

/** Runs `fn` with the variant forced through ADVFREE_KERNELS, restoring the previous setting afterwards. */
export async function withKernels(
  variant: (typeof KERNEL_VARIANTS)[number],
  fn: () => Promise<void> | void,
): Promise<void> {
  const before = process.env.ADVFREE_KERNELS;
  process.env.ADVFREE_KERNELS = variant;
  try {
    await fn();
  } finally {
    if (before === undefined) delete process.env.ADVFREE_KERNELS;
    else process.env.ADVFREE_KERNELS = before;
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

/** (f(x + h·e_i) − f(x − h·e_i)) / 2h, moving x[i] in place and restoring it. */
export function centralDifference(x: Float64Array, i: number, f: () => number, h: number): number {
  const v = x[i];
  x[i] = v + h;
  const up = f();
  x[i] = v - h;
  const down = f();
  x[i] = v;
  return (up - down) / (2 * h);
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
    return valueAndGrads(
      () => c.gpu(ts),
      wrt.map((i) => ts[i]),
      { seed },
    );
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
    for (let i = 0; i < x.length; i++) fd[i] = centralDifference(x, i, objective, h);
    assertClose(
      await grads[k].data(),
      fd,
      `gradient of input ${wrt[k]} (${c.inputs[wrt[k]].name ?? 'x' + wrt[k]})`,
      rtol,
      atol,
    );
  }
  for (const t of [value, ...grads, ...ts]) t.dispose();
}

/**
 * Checks second derivatives through create-graph gradients. With a random cotangent r and random directions
 * v_k for the differentiated inputs, φ = Σ_k <v_k, ∂<r, f>/∂x_k> is built on the GPU from gradients recorded
 * on an outer tape (double backpropagation), which then gives
 *   ∂φ/∂x_j = Σ_k H_jk·v_k   (Hessian-vector products of <r, f>), and  ∂φ/∂r = Σ_k J_k·v_k  (a JVP: the
 *   derivative of each backward with respect to its incoming gradient).
 * The references are central differences of the float64 reference along v: the JVP as (f(x + hv) - f(x - hv))/2h,
 * the HVP as the mixed second difference of <r, f> with steps h along v and h along each coordinate. In float64
 * with h = 1e-4 both truncation (h²·f'''' ≈ 1e-8) and rounding (1e-16·|f|/h² ≈ 1e-8) stay far below the fp32
 * error of the GPU side. That error: the double backward chains about three times the forward's ops, each
 * rounding sums of at most a few hundred terms with unit roundoff 6e-8, so an element is off by well under
 * 1e-5 of the magnitudes it sums; the defaults rtol 1e-3 and atol 1e-4 (as in checkGradients) leave a wide
 * margin, the atol covering elements whose exact value cancels to about 0 (zero curvature of linear ops).
 * Inputs must keep every kink (ReLU, clamp, max) beyond the steps: the mixed difference of a kink is of order
 * (gradient jump)/h.
 */
export async function checkSecondOrder(c: GradCase): Promise<void> {
  const { add, mul, sum, tidy, valueAndGrads } = await import('../engine/index.js');
  const wrt = c.wrt ?? c.inputs.map((_, i) => i);
  const xs = c.inputs.map((inp) => Float64Array.from(inp.data));
  const r = randn(c.cpu(xs).length, c.seed ?? 99);
  const vs = wrt.map((k, j) => randn(xs[k].length, 300 + j));
  const ts = c.inputs.map((inp, i) => gpu(inp.data, inp.shape, inp.name ?? `x${i}`));
  const grads = tidy(() => {
    const outShape = c.gpu(ts).shape;
    const rt = gpu(r, [...outShape], 'r');
    const vt = vs.map((v, j) => gpu(v, c.inputs[wrt[j]].shape, `v${j}`));
    const phi = () => {
      const inner = valueAndGrads(
        () => c.gpu(ts),
        wrt.map((i) => ts[i]),
        { seed: rt, createGraph: true },
      );
      return inner.grads.map((g, j) => sum(mul(g, vt[j]))).reduce((a, b) => add(a, b));
    };
    return valueAndGrads(phi, [...wrt.map((i) => ts[i]), rt]).grads;
  });
  const h = c.h ?? 1e-4;
  const rtol = c.rtol ?? 1e-3;
  const atol = c.atol ?? 1e-4;
  // Shifts every differentiated input by t·v, runs fn, and undoes the shift.
  const along = <T>(t: number, fn: () => T): T => {
    wrt.forEach((k, j) => xs[k].forEach((_, i) => (xs[k][i] += t * vs[j][i])));
    const out = fn();
    wrt.forEach((k, j) => xs[k].forEach((_, i) => (xs[k][i] -= t * vs[j][i])));
    return out;
  };
  const up = along(h, () => c.cpu(xs));
  const down = along(-h, () => c.cpu(xs));
  assertClose(
    await grads[wrt.length].data(),
    up.map((u, i) => (u - down[i]) / (2 * h)),
    'JVP (derivative in the cotangent)',
    rtol,
    atol,
  );
  const dot = () => c.cpu(xs).reduce((s, y, i) => s + y * r[i], 0);
  for (let k = 0; k < wrt.length; k++) {
    const x = xs[wrt[k]];
    // The difference along v of the coordinate's central difference.
    const fd = Float64Array.from(x, (_, i) => {
      const diff = (t: number) => along(t, () => centralDifference(x, i, dot, h));
      return (diff(h) - diff(-h)) / (2 * h);
    });
    assertClose(
      await grads[k].data(),
      fd,
      `Hessian-vector product for input ${wrt[k]} (${c.inputs[wrt[k]].name ?? 'x' + wrt[k]})`,
      rtol,
      atol,
    );
  }
  for (const t of [...grads, ...ts]) t.dispose();
}

/** SGD as the method tests train with (momentum 0.9, decay 5e-4 on every parameter). */
export const TEST_SGD = { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' as const };

/** A WRN-10-1 (10 classes, initialised from `seed`) and its SGD: the tiny model the method tests train. */
export function tinyTrainSetup(seed = 7) {
  const model = new WideResNet(parseArch('wrn-10-1', 10), seed);
  const params = model.namedParameters();
  return { model, params, opt: new Sgd(params, TEST_SGD) };
}

/**
 * A result or report without its timings (keys naming seconds, images per second or a time ratio) and the adapter:
 * what must be equal, number for number, between two runs of one experiment on any machine, in any order.
 */
export const withoutTimes = (o: unknown): unknown =>
  JSON.parse(JSON.stringify(o, (k, v) => (/seconds|per_?second|costVsNatural|^adapter$/i.test(k) ? undefined : v)));

/** An L-inf threat model over images of `sampleShape` in [0, 1] (default eps 8/255), every pixel mutable. */
export const imageThreat = (sampleShape: number[], eps = 8 / 255): ThreatModel =>
  ThreatModel.image({ norm: 'linf', eps }, sampleShape);
