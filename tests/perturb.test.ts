// The perturbation kernel (engine/ops/perturb.ts) against its float64 reference in every variant the threat model
// uses and the others, on rows shorter and longer than a workgroup, with a box narrower than [0, 1], clean values
// outside it and fixed elements; bit-for-bit equal to the L-inf image compositions it replaces; and the
// differentiable x + perturbation against finite differences.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  add,
  applyPerturbation,
  clamp,
  perturb,
  randomUniform,
  signStep,
  sub,
  tensor,
  tidy,
  type PerturbOptions,
  type PerturbRegion,
  type Tensor,
} from '../engine/index.js';
import * as ref from '../reference/f64-ops.js';
import { assertClose, assertThrows, checkGradients, gpu, randn, randu, ready, rng } from './helpers.js';

const t = suite('perturb');
t.before(ready);

interface Case {
  rows: number;
  cols: number;
  x: Float32Array;
  a: Float32Array;
  g: Float32Array;
  region: ref.F64Region;
}

/** Clean rows mostly inside a box [0.1, 0.9] (every 11th element outside it), every 4th element fixed. */
function makeCase(rows: number, cols: number, seed: number): Case {
  const r = rng(seed);
  const lower = Float32Array.from({ length: cols }, (_, j) => (j % 5 === 0 ? 0 : 0.1));
  const upper = Float32Array.from({ length: cols }, (_, j) => (j % 7 === 0 ? 1 : 0.9));
  const mutable = Float32Array.from({ length: cols }, (_, j) => (j % 4 === 3 ? 0 : 1));
  const x = Float32Array.from({ length: rows * cols }, (_, i) =>
    i % 11 === 0 ? 0.95 + 0.04 * r() : lower[i % cols] + (upper[i % cols] - lower[i % cols]) * r(),
  );
  const a = Float32Array.from(x, (v) => v + 0.3 * (r() - 0.5));
  const g = Float32Array.from(randn(rows * cols, seed + 1));
  return { rows, cols, x, a, g, region: { lower, upper, mutable } };
}

const upload = (c: Case) => {
  const shape = [c.rows, c.cols];
  const region: PerturbRegion = {
    lower: tensor(Float32Array.from(c.region.lower), [c.cols], { name: 'lower' }),
    upper: tensor(Float32Array.from(c.region.upper), [c.cols], { name: 'upper' }),
    mutable: tensor(Float32Array.from(c.region.mutable), [c.cols], { name: 'mutable' }),
  };
  return {
    x: tensor(c.x, shape, { name: 'x' }),
    a: tensor(c.a, shape, { name: 'a' }),
    g: tensor(c.g, shape, { name: 'g' }),
    region,
    dispose(): void {
      for (const v of [this.x, this.a, this.g, region.lower, region.upper, region.mutable]) v.dispose();
    },
  };
};

/** `gated`: each row's step scaled by GATE's value for it (0, 1 or 0.5). */
type Variant = Omit<PerturbOptions, 'step'> & { step?: { size: number; direction: 'linf' | 'l2'; gated?: boolean } };
const gateOf = (rows: number) => Float32Array.from({ length: rows }, (_, r) => [0, 1, 0.5][r % 3]);

// The threat model's uses (ThreatModel: project, step, random start, stepDelta, apply) and more.
const VARIANTS: Variant[] = [
  { from: 'point', ball: 'linf', radius: 0.08, box: true, to: 'point' },
  { from: 'point', ball: 'l2', radius: 0.4, box: true, to: 'point' },
  { from: 'point', step: { size: 0.07, direction: 'linf' }, ball: 'linf', radius: 0.08, box: true, to: 'point' },
  { from: 'point', step: { size: 0.07, direction: 'l2' }, ball: 'l2', radius: 0.4, box: true, to: 'point' },
  { from: 'point', step: { size: 0.07, direction: 'linf' }, ball: 'none', radius: 0, box: true, to: 'point' },
  { from: 'delta', ball: 'none', radius: 0, box: true, to: 'point' },
  { from: 'delta', ball: 'none', radius: 0, box: false, to: 'point' },
  { from: 'delta', ball: 'l2-sphere', radius: 0.4, box: true, to: 'point' },
  { from: 'delta', ball: 'l2-sphere', radius: 0.4, box: false, to: 'delta' },
  { from: 'delta', ball: 'none', radius: 0, box: false, to: 'delta' },
  { from: 'delta', step: { size: 0.07, direction: 'linf' }, ball: 'linf', radius: 0.08, box: false, to: 'delta' },
  { from: 'delta', step: { size: 0.07, direction: 'l2' }, ball: 'l2', radius: 0.4, box: false, to: 'delta' },
  { from: 'delta', step: { size: 0.07, direction: 'linf' }, ball: 'linf', radius: 0.08, box: true, to: 'delta' },
  { from: 'delta', step: { size: 0.3, direction: 'l2' }, ball: 'l2', radius: 0.4, box: true, to: 'delta' },
  {
    from: 'point',
    step: { size: 0.07, direction: 'linf', gated: true },
    ball: 'linf',
    radius: 0.08,
    box: true,
    to: 'point',
  },
  { from: 'point', step: { size: 0.3, direction: 'l2', gated: true }, ball: 'l2', radius: 0.4, box: true, to: 'point' },
];

for (const [rows, cols] of [
  [3, 7],
  [4, 700],
] as const) {
  t(`every variant equals the float64 reference (${rows} rows of ${cols})`, async () => {
    const c = makeCase(rows, cols, rows * cols);
    const d = upload(c);
    const gate = gateOf(rows);
    const gateT = tensor(gate, [rows], { name: 'gate' });
    for (const v of VARIANTS) {
      const what = JSON.stringify(v);
      const gpuGate = v.step?.gated ? gateT : undefined;
      const got = tidy(() =>
        perturb(d.x, d.a, d.region, { ...v, step: v.step && { ...v.step, g: d.g, gate: gpuGate } }),
      );
      const want = ref.perturb(c.x, c.a, c.region, {
        ...v,
        step: v.step && { ...v.step, g: c.g, gate: v.step.gated ? gate : undefined },
      });
      const out = await got.data();
      got.dispose();
      assertClose(out, want, what, 1e-5, 2e-6);
      // Fixed elements never move; the box holds wherever x is inside it.
      for (let i = 0; i < out.length; i++) {
        const j = i % cols;
        const p = v.to === 'point' ? out[i] : c.x[i] + out[i];
        if (!c.region.mutable[j]) assert.is(out[i], v.to === 'point' ? c.x[i] : 0, `${what}: fixed element ${i}`);
        else if (v.box)
          assert.ok(
            p >= Math.min(c.region.lower[j], c.x[i]) - 1e-6 && p <= Math.max(c.region.upper[j], c.x[i]) + 1e-6,
            `${what}: box at ${i}`,
          );
      }
      // A row gated to 0 takes no step: the projection of its point alone.
      if (v.step?.gated) {
        const still = ref.perturb(c.x, c.a, c.region, { ...v, step: undefined });
        assertClose(
          out.subarray(0, cols),
          still.subarray(0, cols),
          `${what}: row 0 (gate 0) only projected`,
          1e-5,
          2e-6,
        );
      }
    }
    gateT.dispose();
    // The reference itself: the L2 ball holds, and the sphere is reached where the box does not bind.
    const l2 = ref.perturb(c.x, c.a, c.region, {
      from: 'point',
      step: { g: c.g, size: 0.3, direction: 'l2' },
      ball: 'l2',
      radius: 0.4,
      box: true,
      to: 'delta',
    });
    for (let r = 0; r < rows; r++)
      assert.ok(Math.hypot(...l2.subarray(r * cols, (r + 1) * cols)) <= 0.4 + 1e-12, `row ${r} inside the L2 ball`);
    d.dispose();
  });
}

t('bit for bit the L-inf image compositions it replaces (box [0, 1], every element mutable)', async () => {
  const [rows, cols] = [6, 96];
  const r = rng(5);
  const x = Float32Array.from({ length: rows * cols }, () => (r() < 0.1 ? Math.round(r()) : r()));
  const c: Case = {
    rows,
    cols,
    x,
    a: Float32Array.from(x, (v) => v + 0.1 * (r() - 0.5)),
    g: Float32Array.from(randn(rows * cols, 6)),
    region: {
      lower: new Float32Array(cols),
      upper: new Float32Array(cols).fill(1),
      mutable: new Float32Array(cols).fill(1),
    },
  };
  const d = upload(c);
  const eps = 8 / 255;
  const step = 2 / 255;
  const pairs: [string, () => Tensor, () => Tensor][] = [
    [
      'projection',
      () => clamp(add(d.x, clamp(sub(d.a, d.x), -eps, eps)), 0, 1),
      () => perturb(d.x, d.a, d.region, { from: 'point', ball: 'linf', radius: eps, box: true, to: 'point' }),
    ],
    [
      'signed step',
      () => clamp(add(d.x, signStep(sub(d.a, d.x), d.g, step, eps)), 0, 1),
      () =>
        perturb(d.x, d.a, d.region, {
          from: 'point',
          step: { g: d.g, size: step, direction: 'linf' },
          ball: 'linf',
          radius: eps,
          box: true,
          to: 'point',
        }),
    ],
    [
      'random start',
      () => clamp(add(d.x, randomUniform(d.x.shape, -eps, eps, 3, 4)), 0, 1),
      () =>
        perturb(d.x, randomUniform(d.x.shape, -eps, eps, 3, 4), d.region, {
          from: 'delta',
          ball: 'none',
          radius: 0,
          box: true,
          to: 'point',
        }),
    ],
    [
      "free's perturbation step",
      () => signStep(d.a, d.g, eps, eps),
      () =>
        perturb(d.x, d.a, d.region, {
          from: 'delta',
          step: { g: d.g, size: eps, direction: 'linf' },
          ball: 'linf',
          radius: eps,
          box: false,
          to: 'delta',
        }),
    ],
    [
      "YOPO's perturbation step",
      () => sub(clamp(add(d.x, signStep(d.a, d.g, step, eps)), 0, 1), d.x),
      () =>
        perturb(d.x, d.a, d.region, {
          from: 'delta',
          step: { g: d.g, size: step, direction: 'linf' },
          ball: 'linf',
          radius: eps,
          box: true,
          to: 'delta',
        }),
    ],
    ['x + perturbation', () => clamp(add(d.x, d.a), 0, 1), () => applyPerturbation(d.x, d.a, d.region)],
  ];
  for (const [what, before, now] of pairs) {
    const [u, v] = tidy(() => [before(), now()]);
    const [bu, bv] = [new Uint32Array((await u.data()).buffer), new Uint32Array((await v.data()).buffer)];
    u.dispose();
    v.dispose();
    assert.ok(
      bu.every((b, i) => b === bv[i]),
      `${what}: bit-identical`,
    );
  }
  d.dispose();
});

t('x + perturbation: value and gradients in x and the perturbation against finite differences', async () => {
  const [rows, cols] = [3, 10];
  const region = {
    lower: Float32Array.from({ length: cols }, () => 0.2),
    upper: Float32Array.from({ length: cols }, () => 0.8),
    mutable: Float32Array.from({ length: cols }, (_, j) => (j % 3 === 2 ? 0 : 1)),
  };
  // Clean values inside and outside the box; sums kept at least 0.01 from every bound, so no kink is within a step.
  const x = Float64Array.from({ length: rows * cols }, (_, i) => [0.5, 0.9, 0.1, 0.35, 0.7][i % 5]);
  const delta = Float64Array.from(randu(rows * cols, 8, -0.4, 0.4), (v, i) => {
    const s = x[i] + v;
    return [0.2, 0.8, x[i]].some((b) => Math.abs(s - b) < 0.01) ? v + 0.03 : v;
  });
  for (const box of [true, false]) {
    const tr = (t: Float32Array) => ({ data: Float64Array.from(t), shape: [cols] });
    const [lo, hi, mu] = [tr(region.lower), tr(region.upper), tr(region.mutable)];
    await checkGradients({
      gpu: ([xt, dt, l, u, m]) => applyPerturbation(xt, dt, { lower: l, upper: u, mutable: m }, box),
      cpu: ([xs, ds]) => ref.perturb(xs, ds, region, { from: 'delta', ball: 'none', radius: 0, box, to: 'point' }),
      inputs: [
        { data: x, shape: [rows, cols], name: 'x' },
        { data: delta, shape: [rows, cols], name: 'delta' },
        lo,
        hi,
        mu,
      ],
      wrt: [0, 1],
      h: 1e-4,
    });
  }
});

t('bad shapes are refused naming the op and the shapes', () => {
  const x = gpu(new Float32Array(12), [3, 4], 'x');
  const short = gpu(new Float32Array(3), [3], 'short');
  const four = gpu(new Float32Array(4), [4], 'four');
  const region = { lower: four, upper: four, mutable: short };
  assertThrows(
    () => perturb(x, x, region, { from: 'point', ball: 'linf', radius: 1, box: true, to: 'point' }),
    /perturb/,
    /mutable 'short' \[3\]/,
    /\(4\)/,
  );
  const ok = { lower: four, upper: four, mutable: four };
  assertThrows(
    () => perturb(x, four, ok, { from: 'point', ball: 'l2', radius: 1, box: true, to: 'point' }),
    /perturb/,
    /shapes differ/,
    /'four' \[4\]/,
  );
  const step = { g: x, size: 0.1, direction: 'linf' as const, gate: four };
  assertThrows(
    () => perturb(x, x, ok, { from: 'point', step, ball: 'linf', radius: 1, box: true, to: 'point' }),
    /perturb/,
    /gate 'four' \[4\]/,
    /one value per example of x 'x' \[3,4\]/,
  );
  for (const v of [x, short, four]) v.dispose();
});

t.run();
