// Perturbations of a batch kept inside a norm ball around the clean rows, a per-element box and a mask of the
// elements an attacker may change (see perturb.wgsl): the projection and ascent steps of every attack and
// training method, and the differentiable x + perturbation that methods feed their model.
import perturbSrc from '../../shaders/perturb.wgsl';
import { rt } from '../context.js';
import { checkDtype, checkSameShape, fail, fmt } from '../check.js';
import { grid, shader } from '../kernel.js';
import { record } from '../record.js';
import { empty, type Tensor } from '../tensor.js';

const PERTURB = shader(perturbSrc, ['rows:u32', 'cols:u32', 'step:f32', 'radius:f32']);
// Variants that do not read a buffer bind another input in its place: every variant shares one layout.
const BUFFERS = {
  x: 'read f32',
  a: 'read f32',
  g: 'read f32',
  lower: 'read f32',
  upper: 'read f32',
  mask: 'read f32',
  gate: 'read f32',
  out: 'read_write f32',
} as const;
const PROJECT = PERTURB.kernel({
  name: 'perturb_project',
  family: 'elementwise',
  entry: 'project',
  buffers: BUFFERS,
  bytes: (p) => 4 * p.rows * p.cols * 4,
});
const APPLY_GRAD = PERTURB.kernel({
  name: 'perturb_apply_grad',
  family: 'elementwise',
  entry: 'apply_grad',
  buffers: BUFFERS,
  bytes: (p) => 4 * p.rows * p.cols * 4,
});

/** Per sample element (broadcast over the batch): the box and the mask (1 mutable, 0 fixed), f32 tensors [D]. */
export interface PerturbRegion {
  lower: Tensor;
  upper: Tensor;
  mutable: Tensor;
}

export type BallKind = 'none' | 'linf' | 'l2' | 'l2-sphere';

export interface PerturbOptions {
  /** 'point': `a` is a point, its perturbation a − x; 'delta': `a` is the perturbation. */
  from: 'point' | 'delta';
  /**
   * An ascent step added first: size·sign(g) ('linf') or size·g/‖g‖₂ per example ('l2'), on the mutable elements;
   * with `gate` (f32 [N]) example i's step is scaled by gate[i] (0: it keeps its point).
   */
  step?: { g: Tensor; size: number; direction: 'linf' | 'l2'; gate?: Tensor };
  /** 'linf': clamp to ±radius; 'l2': the L2 ball's projection; 'l2-sphere': each example's perturbation scaled
   * to L2 norm radius (random starts); 'none'. */
  ball: BallKind;
  radius: number;
  /** Keep x + perturbation inside the box, widened to contain x. */
  box: boolean;
  /** 'point': x + perturbation; 'delta': the perturbation (after the box, when box). */
  to: 'point' | 'delta';
}

const BALLS: Record<BallKind, number> = { none: 0, linf: 1, l2: 2, 'l2-sphere': 3 };

/** Rows and columns of x [N, ...] against the region [D]; names the op and the shapes. */
function checkRegion(op: string, x: Tensor, region: PerturbRegion): [number, number] {
  checkDtype(op, 'x', x, 'f32');
  if (x.rank < 2) fail(op, `x must be a batch [N, ...], got ${x.describe()}`);
  const rows = x.shape[0];
  const cols = x.size / rows;
  for (const [what, t] of Object.entries(region)) {
    checkDtype(op, what, t, 'f32');
    if (t.size !== cols)
      fail(
        op,
        `${what} ${t.describe()} must hold one value per element of a sample of x ${x.describe()} (${cols}), as ${fmt([cols])}`,
      );
  }
  return [rows, cols];
}

/**
 * The perturbed batch: the perturbation given by `a` (and the step), masked, projected onto the ball, then x plus
 * it kept in the box. Not differentiable (attack updates are not differentiated); see `applyPerturbation`.
 */
export function perturb(x: Tensor, a: Tensor, region: PerturbRegion, o: PerturbOptions): Tensor {
  const op = 'perturb';
  const [rows, cols] = checkRegion(op, x, region);
  checkDtype(op, 'a', a, 'f32');
  checkSameShape(op, x, a);
  if (!(o.radius >= 0)) fail(op, `radius must be >= 0, got ${o.radius}`);
  const s = o.step;
  if (s) {
    checkDtype(op, 'g', s.g, 'f32');
    checkSameShape(op, x, s.g);
    if (!Number.isFinite(s.size)) fail(op, `the step size must be finite, got ${s.size}`);
    if (s.gate) {
      checkDtype(op, 'gate', s.gate, 'f32');
      if (s.gate.rank !== 1 || s.gate.shape[0] !== rows)
        fail(op, `gate ${s.gate.describe()} must hold one value per example of x ${x.describe()}, as ${fmt([rows])}`);
    }
  }
  const out = empty(x.shape, 'perturbed');
  rt().dispatch({
    kernel: PROJECT,
    overrides: {
      FROM_DELTA: o.from === 'delta',
      STEP: s ? (s.direction === 'linf' ? 1 : 2) : 0,
      GATE: !!s?.gate,
      BALL: BALLS[o.ball],
      BOX: o.box,
      TO_DELTA: o.to === 'delta',
    },
    params: { rows, cols, step: s?.size ?? 0, radius: o.radius },
    buffers: {
      x,
      a,
      g: s?.g ?? a,
      lower: region.lower,
      upper: region.upper,
      mask: region.mutable,
      gate: s?.gate ?? a,
      out,
    },
    groups: grid(rows),
  });
  return out;
}

/**
 * x + mutable·delta, kept in the box (widened to contain x) when `box`: what a method feeds its model. Recorded:
 * the gradient passes where the sum lies inside the box (inclusive, as clamp's), in delta only where mutable.
 */
export function applyPerturbation(x: Tensor, delta: Tensor, region: PerturbRegion, box = true): Tensor {
  const out = perturb(x, delta, region, { from: 'delta', ball: 'none', radius: 0, box, to: 'point' });
  record('applyPerturbation', [x, delta], out, (dy, needs) => [
    needs[0] ? applyGrad(dy, x, delta, region, box, false) : null,
    needs[1] ? applyGrad(dy, x, delta, region, box, true) : null,
  ]);
  return out;
}

/** applyPerturbation's backward: dy where kept (and, in delta, mutable). Linear in dy, recorded like clamp's. */
function applyGrad(
  dy: Tensor,
  x: Tensor,
  delta: Tensor,
  region: PerturbRegion,
  box: boolean,
  inDelta: boolean,
): Tensor {
  const [rows, cols] = checkRegion('applyPerturbation', x, region);
  const out = empty(x.shape, `d${inDelta ? delta.name : x.name}`);
  rt().dispatch({
    kernel: APPLY_GRAD,
    overrides: { BOX: box, MASK_DY: inDelta },
    params: { rows, cols, step: 0, radius: 0 },
    buffers: { x, a: delta, g: dy, lower: region.lower, upper: region.upper, mask: region.mutable, gate: delta, out },
    groups: grid(rows),
  });
  record('applyPerturbationGrad', [dy, x, delta], out, (u, needs) => [
    needs[0] ? applyGrad(u, x, delta, region, box, inDelta) : null,
    null,
    null,
  ]);
  return out;
}
