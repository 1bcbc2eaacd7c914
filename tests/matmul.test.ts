import { suite } from 'uvu';
import { linear, matmul, type Tensor } from '../engine/index.js';
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
  type GradCase,
} from './helpers.js';

const t = suite('matmul');
t.before(ready);

/** float64 op(A)·op(B) for one batch entry. */
function mm(a: Float64Array, b: Float64Array, M: number, N: number, K: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
      c[i * N + j] = s;
    }
  }
  return c;
}

/** float64 batched op(A)·op(B); a batch of 0 means the operand is rank 2 and shared. */
function bmm(
  a: Float64Array,
  b: Float64Array,
  batch: number,
  bA: boolean,
  bB: boolean,
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
) {
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const az = bA ? a.subarray(z * M * K, (z + 1) * M * K) : a;
    const bz = bB ? b.subarray(z * K * N, (z + 1) * K * N) : b;
    out.set(mm(az, bz, M, N, K, ta, tb), z * M * N);
  }
  return out;
}

// Sizes that do not divide the 64x64x16 tile, a 1x1 result, and K = 1.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 70, 17],
  [65, 5, 130],
  [64, 64, 16],
  [129, 67, 33],
];

for (const variant of KERNEL_VARIANTS) {
  t(`forward matches float64 for every transpose combination (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      let seed = 1;
      for (const [M, N, K] of SHAPES) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            const a = randn(M * K, seed++);
            const b = randn(K * N, seed++);
            const c = matmul(gpu(a, ta ? [K, M] : [M, K]), gpu(b, tb ? [N, K] : [K, N]), { transA: ta, transB: tb });
            assertClose(await c.data(), mm(a, b, M, N, K, ta, tb), `${M}x${N}x${K} ta=${ta} tb=${tb}`, 1e-4, 1e-4);
          }
        }
      }
    }),
  );
}

for (const variant of KERNEL_VARIANTS) {
  t(`batched and broadcast forward (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      const [B, M, N, K] = [3, 20, 9, 70];
      const a = randn(B * M * K, 5);
      const b = randn(K * N, 6);
      const c = matmul(gpu(a, [B, K, M]), gpu(b, [K, N]), { transA: true });
      assertClose(await c.data(), bmm(a, b, B, true, false, M, N, K, true, false), 'batched A, shared B', 1e-4, 1e-4);
    }),
  );
}

/** Runs `check` (first or second order) on matmul: plain, transposed, batched, broadcast. */
async function productCases(check: (c: GradCase) => Promise<void>): Promise<void> {
  const cases: [number, boolean, boolean, boolean, boolean][] = [
    // batch, batched A, batched B, transA, transB
    [1, false, false, false, false],
    [1, false, false, true, true],
    [2, true, true, false, true],
    [3, false, true, true, false],
    [2, true, false, false, true],
  ];
  let seed = 10;
  for (const [B, bA, bB, ta, tb] of cases) {
    const [M, N, K] = [5, 3, 7];
    const aShape = ta ? [K, M] : [M, K];
    const bShape = tb ? [N, K] : [K, N];
    await check({
      gpu: ([a, b]) => matmul(a, b, { transA: ta, transB: tb }),
      cpu: ([a, b]) => bmm(a, b, B, bA, bB, M, N, K, ta, tb),
      inputs: [
        { data: randn((bA ? B : 1) * M * K, seed++), shape: bA ? [B, ...aShape] : aShape, name: 'a' },
        { data: randn((bB ? B : 1) * K * N, seed++), shape: bB ? [B, ...bShape] : bShape, name: 'b' },
      ],
    });
  }
}

for (const variant of KERNEL_VARIANTS) {
  t(`gradients match finite differences (plain, transposed, batched, broadcast) (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      await productCases(checkGradients);
    }),
  );
}

/**
 * linear(x, w, b) on [n, inF] x [outF, inF] + [outF] against float64, inputs drawn from seeds seed..seed+2; with
 * `relu`, the fused ReLU after it.
 */
const linearCase = (n: number, inF: number, outF: number, seed: number, relu = false) => ({
  gpu: ([x, w, b]: Tensor[]) => linear(x, w, b, { relu }),
  cpu: ([x, w, b]: Float64Array[]) => {
    const y = ref.linear(x, w, b, n, inF, outF);
    return relu ? ref.relu(y) : y;
  },
  inputs: [
    { data: randn(n * inF, seed), shape: [n, inF], name: 'x' },
    { data: randn(outF * inF, seed + 1), shape: [outF, inF], name: 'w' },
    { data: randn(outF, seed + 2), shape: [outF], name: 'b' },
  ],
});

for (const variant of KERNEL_VARIANTS) {
  t(`linear: forward with fused bias and gradients for x, w and b (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      await checkGradients(linearCase(6, 11, 4, 1));
      // Larger than one tile in every direction, batch 1 and a wide output.
      for (const [N, I, O] of [
        [1, 640, 10],
        [130, 70, 100],
      ]) {
        const x = randn(N * I, 4);
        const w = randn(O * I, 5);
        const b = randn(O, 6);
        const y = linear(gpu(x, [N, I]), gpu(w, [O, I]), gpu(b, [O]));
        assertClose(await y.data(), ref.linear(x, w, b, N, I, O), `linear ${N}x${I}->${O}`, 1e-4, 1e-4);
      }
    }),
  );
  t(`linear with the fused ReLU: forward, gradients and second order (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      // Wider than long (the kernel runs along the columns) and longer than wide (along the rows: C = Dᵀ).
      await checkGradients(linearCase(6, 11, 9, 21, true));
      await checkGradients(linearCase(13, 5, 4, 24, true));
      await checkSecondOrder(linearCase(5, 6, 7, 27, true));
      await checkSecondOrder(linearCase(9, 4, 3, 30, true));
      // More than one workgroup in each direction, both layouts: mlp-256x3's 256 -> 26 layer (stored transposed) and
      // a wide output (several workgroups of columns).
      for (const [N, I, O] of [
        [256, 70, 26],
        [40, 33, 150],
      ]) {
        const [x, w, b] = [randn(N * I, 34), randn(O * I, 35), randn(O, 36)];
        const y = linear(gpu(x, [N, I]), gpu(w, [O, I]), gpu(b, [O]), { relu: true });
        assertClose(await y.data(), ref.relu(ref.linear(x, w, b, N, I, O)), `linear ${N}x${I}->${O} relu`, 1e-4, 1e-4);
      }
    }),
  );
}

for (const variant of KERNEL_VARIANTS) {
  t(`second order: matmul (plain, transposed, batched, broadcast) and linear (${variant} kernels)`, () =>
    withKernels(variant, async () => {
      await productCases(checkSecondOrder);
      await checkSecondOrder({
        ...linearCase(5, 6, 3, 7),
      });
    }),
  );
}

t('bad shapes are rejected naming both shapes', () => {
  assertThrows(() => matmul(gpu(randn(6, 1), [2, 3]), gpu(randn(8, 1), [4, 2])), /matmul/, /\[2,3\]/, /\[4,2\]/);
  assertThrows(() => matmul(gpu(randn(6, 1), [6]), gpu(randn(6, 1), [6, 1])), /matmul/, /rank 2 or 3/);
  assertThrows(() => matmul(gpu(randn(12, 1), [2, 2, 3]), gpu(randn(18, 1), [3, 3, 2])), /batch sizes differ/);
  assertThrows(() => linear(gpu(randn(6, 1), [2, 3]), gpu(randn(8, 1), [2, 4])), /linear/, /\[2,3\]/, /\[2,4\]/);
  assertThrows(
    () => linear(gpu(randn(6, 1), [2, 3]), gpu(randn(6, 1), [2, 3]), gpu(randn(3, 1), [3])),
    /bias/,
    /\[3\]/,
  );
});

t.run();
