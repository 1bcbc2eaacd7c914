// The single-op cases on our engine: wall time per op (each run waited for), and GPU time per kernel from a
// profiled repeat, the source of the per-kernel GFLOP/s.
import { conv2d, conv2dInputGrad, conv2dWeightGrad, matmul, rt, tensor, type Tensor } from '../engine/index.js';
import { perRun, profile, type Profile } from '../engine/profile.js';
import { convInputs, matmulInputs, type OpCase, type OpRunner } from './op-cases.js';
import { repeat, wallTime, type WallTime } from './timing.js';

const PAD1 = { padding: 1 };

export function ourRunner(c: OpCase, seed: number): OpRunner {
  let inputs: Tensor[];
  let op: () => Tensor;
  if (c.kind === 'matmul') {
    const { a, b } = matmulInputs(c.n, seed);
    const [A, B] = (inputs = [tensor(a, [c.n, c.n], { name: 'a' }), tensor(b, [c.n, c.n], { name: 'b' })]);
    op = () => matmul(A, B);
  } else {
    const h = convInputs(c, seed);
    const [x, w, dy] = (inputs = [
      tensor(h.x, [c.N, c.C, c.H, c.H], { name: 'x' }),
      tensor(h.w, [c.C, c.C, 3, 3], { name: 'w' }),
      tensor(h.dy, [c.N, c.C, c.H, c.H], { name: 'dy' }),
    ]);
    op = {
      'conv-forward': () => conv2d(x, w, PAD1),
      'conv-input-grad': () => conv2dInputGrad(dy, w, x.shape, PAD1),
      'conv-weight-grad': () => conv2dWeightGrad(dy, x, w.shape, PAD1),
    }[c.kind];
  }
  return {
    run: () => op().dispose(),
    sync: () => rt().sync(),
    async output() {
      const t = op();
      try {
        return await t.data();
      } finally {
        t.dispose();
      }
    },
    dispose: () => inputs.forEach((t) => t.dispose()),
  };
}

export interface OurOpResult {
  name: string;
  flops: number;
  wall: WallTime;
  /** Per run, summed over its dispatches; null without profiling. */
  gpuMs: number | null;
  /** Per run, keyed 'family/kernel'. */
  kernels: Profile['byKernel'];
}

export interface OpBenchOptions {
  reps: number;
  warmup: number;
  seed: number;
  profile: boolean;
}

export async function benchOurOps(cases: readonly OpCase[], o: OpBenchOptions): Promise<OurOpResult[]> {
  const out: OurOpResult[] = [];
  for (const c of cases) {
    const r = ourRunner(c, o.seed);
    try {
      const wall = await wallTime(r.run, r.sync, o.reps, o.warmup);
      const prof = o.profile ? perRun(await profile(() => repeat(o.reps, r.run)), o.reps) : null;
      out.push({ name: c.name, flops: c.flops, wall, gpuMs: prof?.ms ?? null, kernels: prof?.byKernel ?? {} });
    } finally {
      r.dispose();
    }
  }
  return out;
}
