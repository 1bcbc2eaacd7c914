// Classification losses over logits [N, K] and integer labels [N], their backward, and the
// non-differentiable argmax / accuracy count; the softmax KL divergence of two logit tensors (TRADES). All run
// one invocation per row (see xent.wgsl, kl.wgsl).
import xentSrc from '../../shaders/xent.wgsl';
import klSrc from '../../shaders/kl.wgsl';
import { rt } from '../context.js';
import { checkDtype, checkRank, checkSameShape, fail } from '../check.js';
import { cdiv, grid, shader } from '../kernel.js';
import { record } from '../record.js';
import { empty, Tensor } from '../tensor.js';
import { add, affine, fill, mul, reshape, sub } from './elementwise.js';
import { matmul } from './matmul.js';
import { broadcastRows, reduceRows, sum } from './reduce.js';

const XENT = shader(xentSrc, ['n:u32', 'k:u32', 'scale:f32']);
// Untargeted losses bind the labels again as the (unread) targets: every variant shares one binding layout.
const LOGITS = { z: 'read f32', labels: 'read i32', targets: 'read i32' } as const;
const FORWARD = XENT.kernel({
  name: 'loss_forward',
  family: 'loss',
  entry: 'forward',
  buffers: { ...LOGITS, out: 'read_write f32' },
});
const BACKWARD = XENT.kernel({
  name: 'loss_backward',
  family: 'loss',
  entry: 'backward',
  buffers: { ...LOGITS, dy: 'read f32', dz: 'read_write f32' },
});
const ARGMAX = XENT.kernel({
  name: 'argmax',
  family: 'loss',
  entry: 'argmax',
  buffers: { z: 'read f32', idx: 'read_write i32' },
});
const WG = 64;

/** xent.wgsl's LOSS override. */
const enum Loss {
  CrossEntropy = 0,
  Margin = 1,
  Correct = 2,
  Dlr = 3,
  TargetedDlr = 4,
  LogitDifference = 5,
}

/** Checks logits [N, K] f32; returns [N, K]. */
function checkLogits(op: string, logits: Tensor): [number, number] {
  checkDtype(op, 'logits', logits, 'f32');
  checkRank(op, 'logits [N, K]', logits, 2);
  return [logits.shape[0], logits.shape[1]];
}

/**
 * Checks logits [N, K] against labels [N] i32. Labels uploaded from the host carry their range, so a label
 * outside [0, K) is rejected here without a readback; labels computed on the GPU are guarded by the kernel.
 */
function checkLabels(op: string, logits: Tensor, labels: Tensor): [number, number] {
  const [n, k] = checkLogits(op, logits);
  checkDtype(op, 'labels', labels, 'i32');
  checkRank(op, 'labels [N]', labels, 1);
  if (labels.shape[0] !== n) {
    fail(
      op,
      `labels ${labels.describe()} has ${labels.shape[0]} entries but logits ${logits.describe()} has ${n} rows`,
    );
  }
  if (labels.intRange) {
    const [lo, hi] = labels.intRange;
    const bad = lo < 0 ? lo : hi >= k ? hi : null;
    if (bad !== null) {
      fail(
        op,
        `label ${bad} in labels ${labels.describe()} is out of range [0, ${k}) for K = ${k} classes of logits ${logits.describe()}`,
      );
    }
  }
  return [n, k];
}

// Untargeted losses bind the labels again in the (unread) targets slot: every variant shares one binding layout.
function rowForward(loss: Loss, logits: Tensor, labels: Tensor, name: string, targets: Tensor = labels): Tensor {
  const [n, k] = logits.shape;
  const out = empty([n], name);
  rt().dispatch({
    kernel: FORWARD,
    overrides: { LOSS: loss },
    params: { n, k, scale: 1 },
    buffers: { z: logits, labels, out, targets },
    groups: grid(cdiv(n, WG)),
  });
  return out;
}

/** The name each loss's recorded backward carries. */
const GRAD_OPS: Partial<Record<Loss, string>> = {
  [Loss.CrossEntropy]: 'crossEntropyGrad',
  [Loss.Margin]: 'marginGrad',
  [Loss.Dlr]: 'dlrGrad',
  [Loss.TargetedDlr]: 'targetedDlrGrad',
  [Loss.LogitDifference]: 'logitDifferenceGrad',
};

/** d(loss)/d(logits) for a per-row cotangent dy [N] (perRow), or a mean's dy [1]: one dispatch. */
function rowKernel(
  loss: Loss,
  logits: Tensor,
  labels: Tensor,
  dy: Tensor,
  perRow: boolean,
  targets: Tensor = labels,
): Tensor {
  const [n, k] = logits.shape;
  const dz = empty(logits.shape, `d${logits.name}`);
  rt().dispatch({
    kernel: BACKWARD,
    overrides: { LOSS: loss, DY_PER_ROW: perRow },
    params: { n, k, scale: perRow ? 1 : 1 / n },
    buffers: { z: logits, labels, dy, dz, targets },
    groups: grid(cdiv(n, WG)),
  });
  return dz;
}

/** Σ_j a_ij: [N, K] → [N], as a product with ones so that it is differentiable. */
const rowSum = (a: Tensor): Tensor => reshape(matmul(a, fill([a.shape[1], 1], 1, 'ones')), [a.shape[0]]);

/** v [N] repeated along each row: [N] → [N, K]. */
const rowBroadcast = (v: Tensor, k: number): Tensor => matmul(reshape(v, [v.size, 1]), fill([1, k], 1, 'ones'));

/** onehot(labels) [N, K], from the kernel's 1/K - onehot at zero logits (constant: labels have no gradient). */
function oneHot(labels: Tensor, n: number, k: number): Tensor {
  return affine(rowKernel(Loss.CrossEntropy, fill([n, k], 0, 'zeros'), labels, fill([n], 1, 'ones'), true), -1, 1 / k);
}

/**
 * The losses' backward, rowKernel, recorded so that it can be differentiated again (create-graph). With
 * G = d(loss_i)/d(z_i) at unit cotangents (softmax(z_i) - onehot(y_i), or onehot(j*) - onehot(y_i) for the
 * margin) and c = scale·dy_i, dz = c·G is linear in dy, so d/d(dy) of <u, dz> is scale·Σ_j u_ij·G_ij; the
 * margin's G is constant in z almost everywhere, and the cross-entropy's has the softmax Jacobian
 * J_i = diag(p_i) - p_i p_iᵀ, so d/dz is J_i(c·u_i) = p_i ⊙ (w_i - <w_i, p_i>), w_i = c·u_i. The logit
 * difference's G is constant too; the DLR quotients are curved in z, and their second derivative in the logits
 * is not implemented (an error says so rather than a silent zero).
 */
function rowBackward(
  loss: Loss,
  logits: Tensor,
  labels: Tensor,
  dy: Tensor,
  perRow: boolean,
  targets?: Tensor,
): Tensor {
  const dz = rowKernel(loss, logits, labels, dy, perRow, targets);
  const [n, k] = logits.shape;
  const scale = perRow ? 1 : 1 / n;
  const op = GRAD_OPS[loss] ?? 'lossGrad';
  record(op, [logits, dy], dz, (u, needs) => {
    const curved = needs[0] && loss === Loss.CrossEntropy;
    if (needs[0] && (loss === Loss.Dlr || loss === Loss.TargetedDlr)) {
      fail(op, `the second derivative of the DLR losses in the logits ${logits.describe()} is not implemented`);
    }
    if (!curved && !needs[1]) return [null, null];
    const unit = rowBackward(loss, logits, labels, fill([n], 1, 'ones'), true, targets);
    let dlogits: Tensor | null = null;
    if (curved) {
      const w = mul(u, perRow ? rowBroadcast(dy, k) : broadcastRows(dy, u.shape, scale));
      const probs = add(unit, oneHot(labels, n, k));
      dlogits = mul(probs, sub(w, rowBroadcast(rowSum(mul(w, probs)), k)));
    }
    let ddy: Tensor | null = null;
    if (needs[1]) {
      const ug = mul(u, unit);
      ddy = perRow ? rowSum(ug) : affine(sum(ug), scale, 0);
    }
    return [dlogits, ddy];
  });
  return dz;
}

export interface CrossEntropyOptions {
  /** 'mean' (default): the batch mean, shape [1]; 'none': the per-example losses, shape [N]. */
  reduction?: 'mean' | 'none';
}

/**
 * Softmax cross-entropy of logits [N, K] against class indices [N] (PyTorch's F.cross_entropy):
 * loss_i = logsumexp(z_i) - z_iy, computed with the row max subtracted so large logits cannot overflow.
 * The mean is shape [1], like `sum` and `mean`, so it adds to other scalar terms without a reshape.
 * Backward: (softmax(z_i) - onehot(y_i)) · dy_i, or · dy/N for the mean, in one kernel that recomputes the
 * softmax from the logits (nothing is saved, so nothing outlives the op when no tape records it).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'softmaxCrossEntropy';
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'none') fail(op, `reduction must be 'mean' or 'none', got '${reduction}'`);
  const [n] = checkLabels(op, logits, labels);
  let y: Tensor;
  if (reduction === 'none') {
    y = rowForward(Loss.CrossEntropy, logits, labels, op);
  } else {
    const rows = rowForward(Loss.CrossEntropy, logits, labels, `${op}_rows`);
    y = reduceRows(rows, n, [1], 1 / n, op);
    rows.dispose();
  }
  record(op, [logits, labels], y, (dy, needs) => [
    needs[0] ? rowBackward(Loss.CrossEntropy, logits, labels, dy, reduction === 'none') : null,
    null,
  ]);
  return y;
}

/**
 * The Carlini-Wagner margin per example, [N]: max_{j≠y} z_j - z_y (positive where the example is
 * misclassified). Backward: +dy_i at the runner-up j*, -dy_i at y; ties for j* go to the lowest index.
 */
export function marginLoss(logits: Tensor, labels: Tensor): Tensor {
  return perRowLoss('marginLoss', Loss.Margin, 2, logits, labels);
}

/** A per-row loss with its backward (per-row cotangent), after checking K >= minK and the targets if any. */
function perRowLoss(op: string, loss: Loss, minK: number, logits: Tensor, labels: Tensor, targets?: Tensor): Tensor {
  const [, k] = checkLabels(op, logits, labels);
  if (k < minK) fail(op, `logits ${logits.describe()} have K = ${k} classes; ${op} needs at least ${minK}`);
  if (targets) checkLabels(`${op} (targets)`, logits, targets);
  const y = rowForward(loss, logits, labels, op, targets);
  record(op, targets ? [logits, labels, targets] : [logits, labels], y, (dy, needs) => [
    needs[0] ? rowBackward(loss, logits, labels, dy, true, targets) : null,
    null,
    ...(targets ? [null] : []),
  ]);
  return y;
}

/**
 * The Difference of Logits Ratio per example, [N] (Croce & Hein 2020, AutoAttack's APGD-DLR):
 * -(z_y - z_o) / (z_pi1 - z_pi3 + 1e-12) with the logits sorted z_pi1 >= z_pi2 >= z_pi3, and z_o = z_pi2 where
 * y is the top class, else z_pi1. Positive where the example is misclassified; invariant to shifting and scaling
 * the logits. Ranks break ties by the lowest index. Backward: the quotient rule on the four logits involved.
 */
export function dlrLoss(logits: Tensor, labels: Tensor): Tensor {
  return perRowLoss('dlrLoss', Loss.Dlr, 3, logits, labels);
}

/**
 * Targeted DLR per example, [N] (AutoAttack's APGD-T): -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2 + 1e-12), to be
 * maximized (it pushes z_t above z_y). Needs K >= 4; targets i32 [N] in [0, K).
 */
export function targetedDlrLoss(logits: Tensor, labels: Tensor, targets: Tensor): Tensor {
  return perRowLoss('targetedDlrLoss', Loss.TargetedDlr, 4, logits, labels, targets);
}

/**
 * z_t - z_y per example, [N]: FAB's decision function between the label and a target class (positive where t
 * beats y). Backward: +dy_i at t, -dy_i at y.
 */
export function logitDifference(logits: Tensor, labels: Tensor, targets: Tensor): Tensor {
  return perRowLoss('logitDifference', Loss.LogitDifference, 1, logits, labels, targets);
}

/**
 * The index of each row's largest logit, i32 [N]; ties go to the lowest index. Not differentiable. The
 * result records its range [0, K-1], so it can serve as labels (e.g. attacking the model's own predictions).
 */
export function argmax(x: Tensor): Tensor {
  const [n, k] = checkLogits('argmax', x);
  const name = 'argmax';
  const out = new Tensor([n], 'i32', rt().pool.acquire(n * 4, name), name, [0, k - 1]);
  rt().dispatch({ kernel: ARGMAX, params: { n, k, scale: 1 }, buffers: { z: x, idx: out }, groups: grid(cdiv(n, WG)) });
  return out;
}

/** The number of rows whose argmax (lowest index on ties) equals the label, as an f32 [1]. Not differentiable. */
export function countCorrect(logits: Tensor, labels: Tensor): Tensor {
  const op = 'countCorrect';
  const [n] = checkLabels(op, logits, labels);
  const hits = rowForward(Loss.Correct, logits, labels, `${op}_rows`);
  const count = reduceRows(hits, n, [1], 1, op);
  hits.dispose();
  return count;
}

// ---- softmax KL divergence (kl.wgsl) ----

const KL = shader(klSrc, ['n:u32', 'k:u32', 'scale:f32']);
const KL_LOGITS = { zp: 'read f32', zq: 'read f32' } as const;
const KL_FORWARD = KL.kernel({
  name: 'kl_forward',
  family: 'loss',
  entry: 'forward',
  buffers: { ...KL_LOGITS, out: 'read_write f32' },
});
const KL_BACKWARD = KL.kernel({
  name: 'kl_backward',
  family: 'loss',
  entry: 'backward',
  buffers: { ...KL_LOGITS, dy: 'read f32', d: 'read_write f32' },
});

export interface KlOptions {
  /** 'mean' (default): the batch mean, shape [1] (PyTorch's 'batchmean'); 'sum': shape [1]; 'none': per row, [N]. */
  reduction?: 'mean' | 'sum' | 'none';
}

/** kl.wgsl's backward: c_i·dKL_i/dp_i (wrt 0) or c_i·dKL_i/dq_i (wrt 1), c_i = dy_i (perRow, scale 1) or scale·dy_0. */
function klKernel(wrt: 0 | 1, p: Tensor, q: Tensor, dy: Tensor, perRow: boolean, scale: number): Tensor {
  const [n, k] = p.shape;
  const d = empty(p.shape, `d${(wrt === 0 ? p : q).name}`);
  rt().dispatch({
    kernel: KL_BACKWARD,
    overrides: { WRT: wrt, DY_PER_ROW: perRow },
    params: { n, k, scale },
    buffers: { zp: p, zq: q, dy, d },
    groups: grid(cdiv(n, WG)),
  });
  return d;
}

/** w - <w, s> row by row: the softmax Jacobian's product is J(S)ᵀw = S ⊙ centered(w, S). */
const centered = (w: Tensor, s: Tensor): Tensor => sub(w, rowBroadcast(rowSum(mul(w, s)), s.shape[1]));

/**
 * The KL's backward, klKernel, recorded so that it can be differentiated again (create-graph). Per row, with
 * P, Q the softmaxes, G = dKL/dp = P ⊙ (log P - log Q - KL) and w = c·u for the incoming cotangent u:
 *   dq = c·(Q - P):  d/dq = J(Q)ᵀw, d/dp = -J(P)ᵀw;
 *   dp = c·G:        d/dq = -J(P)ᵀw, d/dp = J(P)ᵀw + G ⊙ (w - <w, P>) - P·<w, G>;
 * and d/d(dy) = scale·<u, G or Q - P> (per row, or summed for a single dy). The softmaxes come from the same
 * recorded kernel at uniform logits (dKL(a || 0)/dq = 1/K - softmax(a)), so every piece is differentiable again.
 */
function klBackward(wrt: 0 | 1, p: Tensor, q: Tensor, dy: Tensor, perRow: boolean, scale: number): Tensor {
  const d = klKernel(wrt, p, q, dy, perRow, scale);
  const [n, k] = p.shape;
  record(wrt === 0 ? 'klGradP' : 'klGradQ', [p, q, dy], d, (u, needs) => {
    const ones = fill([n], 1, 'ones');
    const unit = klBackward(wrt, p, q, ones, true, 1);
    const softmax = (a: Tensor) => affine(klBackward(1, a, fill(a.shape, 0, 'zeros'), ones, true, 1), -1, 1 / k);
    const w = mul(u, perRow ? rowBroadcast(dy, k) : broadcastRows(dy, u.shape, scale));
    let dp: Tensor | null = null;
    let dq: Tensor | null = null;
    if (needs[0] || needs[1]) {
      const sp = softmax(p);
      const cp = centered(w, sp);
      const jp = mul(sp, cp);
      if (wrt === 1) {
        if (needs[0]) dp = affine(jp, -1, 0);
        if (needs[1]) {
          const sq = softmax(q);
          dq = mul(sq, centered(w, sq));
        }
      } else {
        if (needs[0]) dp = sub(add(jp, mul(unit, cp)), mul(sp, rowBroadcast(rowSum(mul(w, unit)), k)));
        if (needs[1]) dq = affine(jp, -1, 0);
      }
    }
    let ddy: Tensor | null = null;
    if (needs[2]) {
      const ug = mul(u, unit);
      ddy = perRow ? rowSum(ug) : affine(sum(ug), scale, 0);
    }
    return [dp, dq, ddy];
  });
  return d;
}

/**
 * The softmax KL divergence per row, KL(softmax(p_i) || softmax(q_i)) = sum_j P_ij (log P_ij - log Q_ij), of
 * logits p and q [N, K] (TRADES: p the clean logits, q the adversarial ones); PyTorch's
 * KLDivLoss(log_softmax(q), softmax(p)). Backward to both logit tensors, each one kernel that recomputes the
 * softmaxes from the logits: dKL_i/dp_ij = P_ij (log P_ij - log Q_ij - KL_i), dKL_i/dq_ij = Q_ij - P_ij; the
 * backward is itself differentiable (klBackward).
 */
export function softmaxKl(p: Tensor, q: Tensor, opts: KlOptions = {}): Tensor {
  const op = 'softmaxKl';
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none')
    fail(op, `reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
  const [n, k] = checkLogits(op, p);
  checkLogits(op, q);
  checkSameShape(op, p, q);
  const scale = reduction === 'mean' ? 1 / n : 1;
  const rows = empty([n], reduction === 'none' ? op : `${op}_rows`);
  rt().dispatch({
    kernel: KL_FORWARD,
    params: { n, k, scale: 1 },
    buffers: { zp: p, zq: q, out: rows },
    groups: grid(cdiv(n, WG)),
  });
  let y = rows;
  if (reduction !== 'none') {
    y = reduceRows(rows, n, [1], scale, op);
    rows.dispose();
  }
  const perRow = reduction === 'none';
  record(op, [p, q], y, (dy, needs) => [
    needs[0] ? klBackward(0, p, q, dy, perRow, scale) : null,
    needs[1] ? klBackward(1, p, q, dy, perRow, scale) : null,
  ]);
  return y;
}
