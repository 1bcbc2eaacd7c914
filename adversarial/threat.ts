// The threat model: the inputs an attacker may reach from a clean one. A norm ball (L-inf or L2) of radius eps
// in the model's input units, intersected with a box [lower, upper] per input element and restricted to the
// elements an attacker may change (the mask), the box and mask per sample, broadcast over a batch. For images:
// box [0, 1], every pixel mutable. It owns the random start, the ascent step and the projection, so that after
// every step the point is inside the ball, the box and the mask (engine/ops/perturb.ts does the arithmetic).
//
// L2 with a box projects in AutoAttack's order, ball then box (autopgd_base.py), not by the exact Euclidean
// projection onto their intersection: the result is feasible (clamping to a box that contains x only shrinks each
// coordinate's distance to x), it is what the published L2 evaluations (AutoAttack, TabularBench's CAPGD) compute,
// so robust accuracies compare with theirs, and it costs one pass instead of a bisection per step. The two agree
// wherever the box does not bind. The box is widened per element to contain the clean value, so a clean value
// outside the training split's range (tabular data) is always feasible and never moved.
import {
  applyPerturbation,
  keep,
  perturb,
  randomNormal,
  randomUniform,
  ShapeError,
  sign,
  tensor,
  type PerturbRegion,
  type Shape,
  type Tensor,
} from '../engine/index.js';
import { unitBox, type FeatureBox, type Norm } from '../data/dataset.js';
import { fmtPixels } from './units.js';

export type { Norm } from '../data/dataset.js';
export const NORMS: readonly Norm[] = ['linf', 'l2'];

/** What a run or an evaluation records: the norm and the radius in the model's input units. */
export interface ThreatSpec {
  norm: Norm;
  eps: number;
}

/** Per element of one sample: the box and which elements an attacker may change (1) or not (0): a dataset's box. */
export type ThreatDomain = FeatureBox;

/** CIFAR's threat model, the default where no dataset is named (the library's resolveMethod, resolveAttack). */
export const IMAGE_THREAT: ThreatSpec = { norm: 'linf', eps: 8 / 255 };

/** A bad threat model; `what` names the setting ('eps', 'norm', 'box'). */
export class ThreatError extends Error {
  constructor(
    readonly what: 'eps' | 'norm' | 'box',
    msg: string,
  ) {
    super(msg);
  }
}

/** 'eps 8/255' (L-inf, as results have always been written) or 'L2 eps 0.5'. */
export const describeThreat = (s: ThreatSpec): string => `${s.norm === 'l2' ? 'L2 ' : ''}eps ${fmtPixels(s.eps)}`;

/** The largest distance between two points of the box in the norm, over the mutable elements. */
export function diameter(norm: Norm, d: ThreatDomain): number {
  let out = 0;
  for (let j = 0; j < d.lower.length; j++) {
    if (!d.mutable[j]) continue;
    const w = d.upper[j] - d.lower[j];
    out = norm === 'linf' ? Math.max(out, w) : out + w * w;
  }
  return norm === 'linf' ? out : Math.sqrt(out);
}

/** Checks a domain and a spec against it; throws a ThreatError naming the setting, the value and the range. */
export function checkThreat(spec: ThreatSpec, d: ThreatDomain): void {
  if (!(NORMS as readonly string[]).includes(spec.norm))
    throw new ThreatError('norm', `norm must be one of ${NORMS.join(', ')}, got ${JSON.stringify(spec.norm)}`);
  const n = d.lower.length;
  if (n === 0 || d.upper.length !== n || d.mutable.length !== n) {
    throw new ThreatError(
      'box',
      `lower, upper and mutable must have one entry per input element, got ${d.lower.length}, ${d.upper.length} and ${d.mutable.length}`,
    );
  }
  for (let j = 0; j < n; j++) {
    if (!(Number.isFinite(d.lower[j]) && Number.isFinite(d.upper[j]) && d.lower[j] <= d.upper[j])) {
      throw new ThreatError(
        'box',
        `element ${j}: the box [${d.lower[j]}, ${d.upper[j]}] must be finite with lower <= upper`,
      );
    }
  }
  if (!d.mutable.some(Boolean)) throw new ThreatError('box', 'no element is mutable: an attacker could change nothing');
  const max = diameter(spec.norm, d);
  if (!(spec.eps >= 0 && spec.eps <= max)) {
    throw new ThreatError(
      'eps',
      `eps must be in [0,${fmtPixels(max)}] for ${spec.norm} here (beyond the box's ${spec.norm} diameter the ball holds the whole box), got ${spec.eps}`,
    );
  }
}

export class ThreatModel {
  readonly norm: Norm;
  readonly eps: number;
  /** Elements per sample. */
  readonly size: number;
  private gpu: PerturbRegion | null = null;

  /** The norm and eps, and the sample's box and mask (which it keeps: do not modify them afterwards). */
  constructor(
    spec: ThreatSpec,
    readonly domain: ThreatDomain,
  ) {
    checkThreat(spec, domain);
    this.norm = spec.norm;
    this.eps = spec.eps;
    this.size = domain.lower.length;
  }

  /** Images of `sampleShape` ([C, H, W]) in [0, 1], every pixel mutable. */
  static image(spec: ThreatSpec, sampleShape: Shape): ThreatModel {
    return new ThreatModel(spec, unitBox(sampleShape));
  }

  get spec(): ThreatSpec {
    return { norm: this.norm, eps: this.eps };
  }

  /** 'eps 8/255', 'L2 eps 0.5'. */
  describe(): string {
    return describeThreat(this.spec);
  }

  /**
   * Uploads the box and mask to the GPU now (three tensors of one sample's size, kept until dispose); otherwise
   * the first GPU operation uploads them. Methods are created with them uploaded, like their other state.
   */
  upload(): this {
    this.gpu ??= {
      lower: keep(tensor(this.domain.lower, [this.size], { name: 'threat_lower' })),
      upper: keep(tensor(this.domain.upper, [this.size], { name: 'threat_upper' })),
      mutable: keep(tensor(Float32Array.from(this.domain.mutable), [this.size], { name: 'threat_mutable' })),
    };
    return this;
  }

  /** The box and mask on the GPU, for a batch x of this threat model's samples. */
  private region(op: string, x: Tensor): PerturbRegion {
    if (x.rank < 2 || x.size / x.shape[0] !== this.size) {
      throw new ShapeError(
        op,
        `the threat model is over samples of ${this.size} elements; got a batch ${x.describe()}`,
      );
    }
    return this.upload().gpu!;
  }

  /** The feasible point nearest v in the threat model's order: v − x masked, into the ball of `radius`, then the box. */
  project(x: Tensor, v: Tensor, radius = this.eps): Tensor {
    return perturb(x, v, this.region('project', x), { from: 'point', ball: this.norm, radius, box: true, to: 'point' });
  }

  /**
   * The steepest-ascent step from `at` for gradient g, then the projection: at + size·sign(g) (L-inf) or
   * at + size·g/‖g‖₂ per example over the mutable elements (L2); `radius` Infinity keeps the box and mask only.
   * `gate` (f32 [N]) scales each example's step (0: it keeps its point).
   */
  step(x: Tensor, at: Tensor, g: Tensor, size: number, radius = this.eps, gate?: Tensor): Tensor {
    return perturb(x, at, this.region('step', x), {
      from: 'point',
      step: { g, size, direction: this.norm, gate },
      ball: this.norm,
      radius,
      box: true,
      to: 'point',
    });
  }

  /**
   * The steepest-ascent direction of a unit step for gradient g: sign(g) (L-inf), or g/‖g‖₂ per example over the
   * mutable elements (L2); APGD scales it per example and adds its momentum before projecting.
   */
  direction(g: Tensor): Tensor {
    if (this.norm === 'linf') return sign(g);
    return perturb(g, g, this.region('direction', g), {
      from: 'delta',
      ball: 'l2-sphere',
      radius: 1,
      box: false,
      to: 'delta',
    });
  }

  /**
   * The same step on a perturbation carried across batches (free training): delta + the step, in the ball and
   * the mask. With x, x + delta is also kept in the box and the perturbation of the kept point returned (YOPO).
   */
  stepDelta(delta: Tensor, g: Tensor, size: number, x?: Tensor): Tensor {
    const base = x ?? delta;
    return perturb(base, delta, this.region('stepDelta', base), {
      from: 'delta',
      step: { g, size, direction: this.norm },
      ball: this.norm,
      radius: this.eps,
      box: !!x,
      to: 'delta',
    });
  }

  /**
   * A random perturbation shaped like x, zero where fixed, from (seed, stream): uniform in [−radius, radius) per
   * element (L-inf) or uniform on the L2 sphere of `radius` (a normal vector scaled, as AutoAttack's L2 start).
   */
  randomDelta(x: Tensor, seed: number, stream: number, radius = this.eps): Tensor {
    return this.random('randomDelta', x, seed, stream, radius, false);
  }

  /** x plus a random perturbation of `radius`, in the box. */
  randomStart(x: Tensor, seed: number, stream: number, radius = this.eps): Tensor {
    return this.random('randomStart', x, seed, stream, radius, true);
  }

  private random(op: string, x: Tensor, seed: number, stream: number, radius: number, start: boolean): Tensor {
    const region = this.region(op, x);
    const linf = this.norm === 'linf';
    const noise = linf
      ? randomUniform(x.shape, -radius, radius, seed, stream, 'random_start')
      : randomNormal(x.shape, 0, 1, seed, stream, 'random_start');
    return perturb(x, noise, region, {
      from: 'delta',
      ball: linf ? 'none' : 'l2-sphere',
      radius: linf ? 0 : radius,
      box: start,
      to: start ? 'point' : 'delta',
    });
  }

  /** x + delta where mutable, in the box unless `box` is false: what a method feeds its model (differentiable). */
  apply(x: Tensor, delta: Tensor, box = true): Tensor {
    return applyPerturbation(x, delta, this.region('apply', x), box);
  }

  /** Per element of host rows x, the widened box [min(lower, x), max(upper, x)]; a fixed element's is [x, x]. */
  hostBox(x: ArrayLike<number>): { lo: Float64Array; hi: Float64Array } {
    const n = this.size;
    const lo = new Float64Array(x.length);
    const hi = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const j = i % n;
      lo[i] = this.domain.mutable[j] ? Math.min(this.domain.lower[j], x[i]) : x[i];
      hi[i] = this.domain.mutable[j] ? Math.max(this.domain.upper[j], x[i]) : x[i];
    }
    return { lo, hi };
  }

  /** The distance ‖a − b‖ in the threat model's norm of `n` elements from offset `at` of two host arrays. */
  distance(a: ArrayLike<number>, b: ArrayLike<number>, at: number, n = this.size): number {
    let out = 0;
    for (let i = at; i < at + n; i++) {
      const d = Math.abs(a[i] - b[i]);
      out = this.norm === 'linf' ? Math.max(out, d) : out + d * d;
    }
    return this.norm === 'linf' ? out : Math.sqrt(out);
  }

  /** Frees the GPU copy of the box and mask (uploaded again if the model is used afterwards). */
  dispose(): void {
    if (!this.gpu) return;
    for (const t of Object.values(this.gpu)) t.dispose();
    this.gpu = null;
  }
}
