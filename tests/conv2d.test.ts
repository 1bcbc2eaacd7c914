import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  add,
  conv2d,
  conv2dInputGrad,
  conv2dWeightGrad,
  rt,
  tidy,
  valueAndGrads,
  type Tensor,
} from '../engine/index.js';
import * as ref from '../reference/f64-ops.js';
import {
  assertClose,
  assertThrows,
  checkGradients,
  checkSecondOrder,
  gpu,
  KERNEL_VARIANTS,
  randn,
  ready,
  withKernels,
} from './helpers.js';

const t = suite('conv2d');
t.before(ready);

interface Case {
  N: number;
  C: number;
  H: number;
  W: number;
  Cout: number;
  kH: number;
  kW: number;
  stride: number;
  pad: number;
  bias?: boolean;
  /** A residual added to the output (the fused residual add). */
  residual?: boolean;
  /** The fused ReLU, last. */
  relu?: boolean;
}

const shapeOf = (c: Case): ref.Conv2dShape => ({
  n: c.N,
  c: c.C,
  h: c.H,
  w: c.W,
  cout: c.Cout,
  kh: c.kH,
  kw: c.kW,
  stride: c.stride,
  pad: c.pad,
});
const outSize = (c: Case): [number, number] => ref.convOut(shapeOf(c));
const convRef = (c: Case, x: Float64Array, w: Float64Array, b?: Float64Array): Float64Array =>
  ref.conv2d(x, w, shapeOf(c), b);

/** Analytic float64 gradients (the shared reference's, plus the bias's: dy summed per channel) for the cases too large for finite differences. */
function convGradRef(
  c: Case,
  x: Float64Array,
  w: Float64Array,
  dy: Float64Array,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const [OH, OW] = outSize(c);
  const db = new Float64Array(c.Cout);
  dy.forEach((v, i) => (db[Math.floor(i / (OH * OW)) % c.Cout] += v));
  return { ...ref.conv2dBackward(dy, x, w, shapeOf(c)), db };
}

const describe = (c: Case) =>
  `x [${c.N},${c.C},${c.H},${c.W}] w [${c.Cout},${c.C},${c.kH},${c.kW}] stride ${c.stride} pad ${c.pad}${c.bias ? ' bias' : ''}${c.residual ? ' residual' : ''}${c.relu ? ' relu' : ''}`;

/** The float64 reference of conv2d with its options: bias, residual, then the ReLU. */
function convOptsRef(c: Case, x: Float64Array, w: Float64Array, b?: Float64Array, r?: Float64Array): Float64Array {
  const y = convRef(c, x, w, b);
  const z = r ? y.map((v, i) => v + r[i]) : y;
  return c.relu ? ref.relu(z) : z;
}

async function checkCase(c: Case, seed: number, check = checkGradients): Promise<void> {
  const inputs = [
    { data: randn(c.N * c.C * c.H * c.W, seed), shape: [c.N, c.C, c.H, c.W], name: 'x' },
    { data: randn(c.Cout * c.C * c.kH * c.kW, seed + 1, 0.5), shape: [c.Cout, c.C, c.kH, c.kW], name: 'w' },
  ];
  if (c.bias) inputs.push({ data: randn(c.Cout, seed + 2), shape: [c.Cout], name: 'b' });
  const [OH, OW] = outSize(c);
  if (c.residual)
    inputs.push({ data: randn(c.N * c.Cout * OH * OW, seed + 3), shape: [c.N, c.Cout, OH, OW], name: 'r' });
  // The optional inputs in order: bias, then residual.
  const optional = <T>(ts: T[]): { b?: T; r?: T } => ({
    b: c.bias ? ts[2] : undefined,
    r: c.residual ? ts[c.bias ? 3 : 2] : undefined,
  });
  try {
    await check({
      gpu: (ts) => {
        const { b, r } = optional(ts);
        return conv2d(ts[0], ts[1], { stride: c.stride, padding: c.pad, bias: b, residual: r, relu: c.relu });
      },
      cpu: (ts) => {
        const { b, r } = optional(ts);
        return convOptsRef(c, ts[0], ts[1], b, r);
      },
      inputs,
      seed,
    });
  } catch (e) {
    (e as Error).message = `${describe(c)}: ${(e as Error).message}`;
    throw e;
  }
}

for (const variant of KERNEL_VARIANTS) {
  t(`forward and gradients match float64 on small shapes (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      const cases: Case[] = [
        { N: 2, C: 3, H: 8, W: 8, Cout: 5, kH: 3, kW: 3, stride: 1, pad: 1, bias: true },
        { N: 1, C: 5, H: 7, W: 9, Cout: 17, kH: 3, kW: 3, stride: 2, pad: 1 }, // batch 1, stride 2, odd sizes
        { N: 2, C: 4, H: 9, W: 7, Cout: 3, kH: 3, kW: 3, stride: 2, pad: 0 },
        { N: 3, C: 4, H: 1, W: 1, Cout: 6, kH: 1, kW: 1, stride: 1, pad: 0 }, // 1x1 spatial
        { N: 2, C: 3, H: 1, W: 1, Cout: 4, kH: 3, kW: 3, stride: 1, pad: 1, bias: true }, // 1x1 spatial, 3x3 kernel
        { N: 2, C: 17, H: 7, W: 6, Cout: 5, kH: 1, kW: 1, stride: 2, pad: 0 }, // the WRN shortcut
        { N: 2, C: 6, H: 6, W: 5, Cout: 33, kH: 3, kW: 3, stride: 1, pad: 0 }, // several channel blocks
        { N: 1, C: 2, H: 9, W: 8, Cout: 4, kH: 2, kW: 3, stride: 2, pad: 1 }, // non-square kernel
        { N: 2, C: 3, H: 10, W: 11, Cout: 2, kH: 3, kW: 3, stride: 3, pad: 1 },
        { N: 2, C: 5, H: 6, W: 6, Cout: 19, kH: 3, kW: 3, stride: 1, pad: 1, residual: true }, // the WRN block's conv2 + add
        { N: 1, C: 3, H: 7, W: 5, Cout: 4, kH: 3, kW: 3, stride: 2, pad: 1, bias: true, residual: true },
        // The fused ReLU: mnist-net's 4x4 stride-2 layers, with the bias, and after a residual.
        { N: 2, C: 1, H: 8, W: 8, Cout: 5, kH: 4, kW: 4, stride: 2, pad: 1, bias: true, relu: true },
        { N: 1, C: 3, H: 7, W: 5, Cout: 4, kH: 3, kW: 3, stride: 2, pad: 1, bias: true, residual: true, relu: true },
        { N: 2, C: 1, H: 6, W: 7, Cout: 3, kH: 3, kW: 3, stride: 1, pad: 1 }, // one input channel at stride 1: the columns input gradient without residue classes
      ];
      for (const [i, c] of cases.entries()) await checkCase(c, 10 * i + 1);
    }),
  );
}

for (const variant of KERNEL_VARIANTS) {
  t(
    `one input channel (the input gradient as columns and col2im), with the tape's running sum added in its store (${variant} kernels)`,
    () =>
      withKernels(variant, async () => {
        // x feeds two convolutions: the second input gradient the tape computes adds the first one's.
        const a: Case = { N: 3, C: 1, H: 9, W: 8, Cout: 5, kH: 4, kW: 4, stride: 2, pad: 1 };
        const b: Case = { ...a, kH: 2, kW: 2, pad: 0 };
        await checkGradients({
          gpu: ([x, wa, wb]) => add(conv2d(x, wa, { stride: 2, padding: 1 }), conv2d(x, wb, { stride: 2 })),
          cpu: ([x, wa, wb]) => {
            const yb = convRef(b, x, wb);
            return convRef(a, x, wa).map((v, i) => v + yb[i]);
          },
          inputs: [
            { data: randn(3 * 9 * 8, 81), shape: [3, 1, 9, 8], name: 'x' },
            { data: randn(5 * 16, 82, 0.5), shape: [5, 1, 4, 4], name: 'wa' },
            { data: randn(5 * 4, 83, 0.5), shape: [5, 1, 2, 2], name: 'wb' },
          ],
        });
      }),
  );
}

for (const variant of KERNEL_VARIANTS) {
  t(`second order through the fused ReLU: conv2d with bias and ReLU (${variant} kernels)`, () =>
    withKernels(variant, () =>
      checkCase(
        { N: 2, C: 3, H: 5, W: 5, Cout: 4, kH: 4, kW: 4, stride: 2, pad: 1, bias: true, relu: true },
        41,
        checkSecondOrder,
      ),
    ),
  );
}

for (const variant of KERNEL_VARIANTS) {
  t(
    `second order: conv2d, conv2dInputGrad and conv2dWeightGrad, each differentiated through its recorded backward (${variant} kernels)`,
    () =>
      withKernels(variant, async () => {
        const cases: Case[] = [
          { N: 2, C: 3, H: 5, W: 5, Cout: 4, kH: 3, kW: 3, stride: 1, pad: 1, bias: true },
          { N: 1, C: 2, H: 7, W: 6, Cout: 3, kH: 3, kW: 3, stride: 2, pad: 1 },
          { N: 2, C: 3, H: 4, W: 5, Cout: 2, kH: 1, kW: 1, stride: 2, pad: 0, bias: true },
          { N: 2, C: 1, H: 6, W: 5, Cout: 3, kH: 4, kW: 4, stride: 2, pad: 1 }, // one input channel: the input gradient by columns
        ];
        for (const [i, c] of cases.entries()) {
          const [OH, OW] = outSize(c);
          const seed = 70 + 10 * i;
          const xShape = [c.N, c.C, c.H, c.W];
          const wShape = [c.Cout, c.C, c.kH, c.kW];
          const dyShape = [c.N, c.Cout, OH, OW];
          const x = { data: randn(c.N * c.C * c.H * c.W, seed), shape: xShape, name: 'x' };
          const w = { data: randn(c.Cout * c.C * c.kH * c.kW, seed + 1, 0.5), shape: wShape, name: 'w' };
          const dy = { data: randn(c.N * c.Cout * OH * OW, seed + 2), shape: dyShape, name: 'dy' };
          const geometry = { stride: c.stride, padding: c.pad };
          try {
            const inputs = c.bias ? [x, w, { data: randn(c.Cout, seed + 3), shape: [c.Cout], name: 'b' }] : [x, w];
            await checkSecondOrder({
              gpu: ([xt, wt, b]) => conv2d(xt, wt, { ...geometry, bias: b }),
              cpu: ([xv, wv, b]) => convRef(c, xv, wv, b),
              inputs,
            });
            await checkSecondOrder({
              gpu: ([d, wt]) => conv2dInputGrad(d, wt, xShape, geometry),
              cpu: ([d, wv]) => convGradRef(c, new Float64Array(x.data.length), wv, d).dx,
              inputs: [dy, w],
            });
            await checkSecondOrder({
              gpu: ([d, xt]) => conv2dWeightGrad(d, xt, wShape, geometry),
              cpu: ([d, xv]) => convGradRef(c, xv, new Float64Array(w.data.length), d).dw,
              inputs: [dy, x],
            });
          } catch (e) {
            (e as Error).message = `${describe(c)}: ${(e as Error).message}`;
            throw e;
          }
        }
      }),
  );
}

/** Runs forward and backward of one case with a cotangent seed and compares against the analytic reference. */
async function checkLarge(c: Case, seed: number): Promise<void> {
  const [OH, OW] = outSize(c);
  const xs = randn(c.N * c.C * c.H * c.W, seed);
  const ws = randn(c.Cout * c.C * c.kH * c.kW, seed + 1, 0.2);
  const bs = randn(c.Cout, seed + 2);
  const dys = randn(c.N * c.Cout * OH * OW, seed + 3);
  const x = gpu(xs, [c.N, c.C, c.H, c.W], 'x');
  const w = gpu(ws, [c.Cout, c.C, c.kH, c.kW], 'w');
  const b = gpu(bs, [c.Cout], 'b');
  const seedT = gpu(dys, [c.N, c.Cout, OH, OW], 'dy');
  const wrt = c.bias ? [x, w, b] : [x, w];
  const { value, grads } = valueAndGrads(
    () => conv2d(x, w, { stride: c.stride, padding: c.pad, bias: c.bias ? b : undefined }),
    wrt,
    { seed: seedT },
  );
  const grads64 = convGradRef(c, xs, ws, dys);
  const what = describe(c);
  assertClose(await value.data(), convRef(c, xs, ws, c.bias ? bs : undefined), `${what}: forward`);
  assertClose(await grads[0].data(), grads64.dx, `${what}: dx`);
  assertClose(await grads[1].data(), grads64.dw, `${what}: dw`);
  if (c.bias) assertClose(await grads[2].data(), grads64.db, `${what}: db`);
  for (const v of [value, ...grads, x, w, b, seedT]) v.dispose();
}

for (const variant of KERNEL_VARIANTS) {
  t(
    `larger shapes match the float64 reference (several weight-gradient chunks, channel blocks) (${variant} kernels)`,
    () =>
      withKernels(variant, async () => {
        await checkLarge({ N: 4, C: 16, H: 16, W: 16, Cout: 32, kH: 3, kW: 3, stride: 2, pad: 1 }, 100);
        await checkLarge({ N: 4, C: 16, H: 16, W: 16, Cout: 16, kH: 3, kW: 3, stride: 1, pad: 1, bias: true }, 200);
        await checkLarge({ N: 2, C: 136, H: 5, W: 4, Cout: 20, kH: 3, kW: 3, stride: 1, pad: 1 }, 300);
        await checkLarge({ N: 4, C: 32, H: 16, W: 16, Cout: 64, kH: 1, kW: 1, stride: 2, pad: 0 }, 400);
      }),
  );
}

for (const variant of KERNEL_VARIANTS) {
  t(`only the requested gradients are computed (${variant} kernels)`, () =>
    withKernels(variant, () => {
      const x = gpu(randn(2 * 3 * 6 * 6, 1), [2, 3, 6, 6], 'x');
      const w = gpu(randn(4 * 3 * 3 * 3, 2), [4, 3, 3, 3], 'w');
      const count = (wrt: Tensor[]) => {
        const before = rt().counters().byFamily;
        tidy(() =>
          valueAndGrads(() => conv2d(x, w, { padding: 1 }), wrt, {
            seed: gpu(new Float64Array(2 * 4 * 6 * 6), [2, 4, 6, 6]),
          }),
        );
        const after = rt().counters().byFamily;
        return {
          dx: (after['conv-input-grad'] ?? 0) - (before['conv-input-grad'] ?? 0),
          dw: (after['conv-weight-grad'] ?? 0) - (before['conv-weight-grad'] ?? 0),
        };
      };
      const onlyX = count([x]);
      assert.is(onlyX.dw, 0, 'no weight-gradient kernel for wrt = [x]');
      assert.ok(onlyX.dx > 0, 'input gradient computed');
      const onlyW = count([w]);
      assert.is(onlyW.dx, 0, 'no input-gradient kernel for wrt = [w]');
      assert.ok(onlyW.dw > 0, 'weight gradient computed');
      x.dispose();
      w.dispose();
    }),
  );
}

t('ADVFREE_KERNELS picks the kernels of all three passes; other values are an error naming the choices', async () => {
  const x = gpu(randn(2 * 3 * 6 * 6, 1), [2, 3, 6, 6], 'x');
  const w = gpu(randn(4 * 3 * 3 * 3, 2), [4, 3, 3, 3], 'w');
  const kernels = () => {
    const before = rt().counters().byKernel;
    tidy(() =>
      valueAndGrads(() => conv2d(x, w, { padding: 1 }), [x, w], {
        seed: gpu(new Float64Array(2 * 4 * 6 * 6), [2, 4, 6, 6]),
      }),
    );
    const after = rt().counters().byKernel;
    // Only the GEMM kernels: the backward also copies the cotangent seed.
    return Object.keys(after)
      .filter((k) => after[k] !== before[k] && /conv|gemm/.test(k))
      .sort();
  };
  await withKernels('tiled', () => assert.equal(kernels(), ['gemm_tiled']));
  await withKernels('register', () => assert.equal(kernels(), ['conv2d', 'conv2d_wgrad']));
  process.env.ADVFREE_KERNELS = 'fast';
  try {
    assertThrows(() => conv2d(x, w), /ADVFREE_KERNELS/, /'tiled' or 'register'/, /'fast'/);
  } finally {
    delete process.env.ADVFREE_KERNELS;
  }
  x.dispose();
  w.dispose();
});

t('bad arguments are rejected with both shapes named', () => {
  const x = gpu(new Float64Array(2 * 3 * 5 * 5), [2, 3, 5, 5], 'x');
  const w = gpu(new Float64Array(4 * 2 * 3 * 3), [4, 2, 3, 3], 'w');
  assertThrows(() => conv2d(x, w), /conv2d/, /\[2,3,5,5\]/, /\[4,2,3,3\]/, /3 channels/, /expects 2/);
  const x3 = gpu(new Float64Array(3 * 5 * 5), [3, 5, 5], 'x3');
  const w3 = gpu(new Float64Array(4 * 3 * 3 * 3), [4, 3, 3, 3], 'w3');
  assertThrows(() => conv2d(x3, w3), /conv2d/, /rank 4/, /\[3,5,5\]/);
  const big = gpu(new Float64Array(4 * 3 * 9 * 9), [4, 3, 9, 9], 'big');
  assertThrows(() => conv2d(x, big, { padding: 1 }), /conv2d/, /larger than/, /\[2,3,5,5\]/, /\[4,3,9,9\]/);
  assertThrows(() => conv2d(x, w3, { stride: 0 }), /conv2d/, /stride/);
  const b = gpu(new Float64Array(5), [5], 'b');
  assertThrows(() => conv2d(x, w3, { bias: b }), /conv2d/, /\[5\]/, /\[4\]/);
  const r = gpu(new Float64Array(2 * 4 * 5 * 4), [2, 4, 5, 4], 'r');
  assertThrows(() => conv2d(x, w3, { padding: 1, residual: r }), /conv2d/, /residual/, /\[2,4,5,4\]/, /\[2,4,5,5\]/);
  for (const v of [x, w, x3, w3, big, b, r]) v.dispose();
});

t.run();
