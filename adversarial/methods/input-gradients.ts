// Input gradients inside a training loss (double backpropagation), shared by GradAlign and the gradient-norm
// penalty: each example's cross-entropy gradient in the input, recorded on the enclosing tape (createGraph), so
// that a loss may contain it and its weight gradient flows back through it (a second-order backward pass).
import {
  clamp,
  fill,
  matmul,
  mul,
  reshape,
  rsqrt,
  softmaxCrossEntropy,
  sign,
  sum,
  valueAndGrads,
  type Tensor,
} from '../../engine/index.js';
import type { TrainModel } from '../method.js';

export interface RecordedInputGradient {
  /** Per-example cross-entropy [N] at the point, recorded like the rest of the forward pass. */
  losses: Tensor;
  logits: Tensor;
  /** d(Σ_i CE_i)/d(at): row i is example i's gradient of its own loss (plus, with batch statistics, the small
   * coupling through them). Differentiable in the weights. */
  grad: Tensor;
}

/** One forward pass at `at` and its input gradient as a recorded backward; call it inside the update's loss. */
export function recordedInputGradient(model: TrainModel, at: Tensor, y: Tensor): RecordedInputGradient {
  const out: { logits?: Tensor } = {};
  const { value, grads } = valueAndGrads(
    () => {
      out.logits = model.forward(at);
      return softmaxCrossEntropy(out.logits, y, { reduction: 'none' });
    },
    [at],
    { seed: fill([y.shape[0]], 1, 'loss_seed'), createGraph: true },
  );
  return { losses: value, logits: out.logits!, grad: grads[0] };
}

/** Σ over each example's features: [N, ...] → [N], as a product with ones so that it is differentiable. */
function rowSums(a: Tensor): Tensor {
  const [n] = a.shape;
  const d = a.size / n;
  return reshape(matmul(reshape(a, [n, d]), fill([d, 1], 1, 'ones')), [n]);
}

// Added to each squared norm only so that a zero gradient gives a finite 0·rsqrt (and a finite derivative,
// ~rsqrt³ = 1e30) instead of 0/0; far below any gradient that is not exactly zero.
const TINY = 1e-20;

/**
 * mean_i cos(a_i, b_i) of flattened per-example rows, as GradAlign's code computes it: examples where either
 * gradient is exactly zero are left out of the mean (their cosine is undefined); 0 if all are.
 */
export function meanCosine(a: Tensor, b: Tensor): Tensor {
  const [na, nb] = [rowSums(mul(a, a)), rowSums(mul(b, b))];
  const cos = mul(rowSums(mul(a, b)), mul(rsqrt(na, TINY), rsqrt(nb, TINY)));
  const kept = sign(mul(na, nb)); // 1 where both norms are non-zero; not differentiated (sign records nothing)
  const count = clamp(sum(kept), 1, a.shape[0]);
  const inverse = rsqrt(count);
  return mul(sum(mul(kept, cos)), mul(inverse, inverse));
}
