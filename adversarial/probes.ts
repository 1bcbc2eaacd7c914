// Measurements the methods' reuse probes share: input gradients on the probe batch, their per-example cosine
// (float64 on the host), loss and accuracy under a perturbation, and a PGD run that keeps each step's gradient.
import { countCorrect, keep, softmaxCrossEntropy, tidy, type Tensor } from '../engine/index.js';
import type { ProbeContext } from './method.js';
import type { ThreatModel } from './threat.js';

/** Random starts of the probes draw from streams above the training attacks' (stream = minibatch index). */
export const PROBE_STREAM = 0x7000_0000;

/** The fresh attack free-m's running perturbation is compared with: Madry et al.'s PGD-7, step eps/4 (2/255 at 8/255). */
export const freshPgd = (threat: ThreatModel) => ({ threat, steps: 7, stepSize: threat.eps / 4 });

/** d(mean cross-entropy)/d(xAdv) at the current weights, kept (the caller disposes it). */
export function probeInputGradient(p: ProbeContext, xAdv: Tensor): Tensor {
  return keep(tidy(() => p.grad(() => softmaxCrossEntropy(p.model.forward(xAdv), p.y), [xAdv]).grads[0]));
}

/** The mean over rows (examples) of cos(a_i, b_i), in float64; a zero row counts as cosine 0. */
export function meanRowCosine(a: Float32Array, b: Float32Array, rows: number): number {
  if (a.length !== b.length || a.length % rows !== 0)
    throw new Error(`meanRowCosine: ${a.length} and ${b.length} values for ${rows} rows`);
  const n = a.length / rows;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let k = r * n; k < (r + 1) * n; k++) {
      ab += a[k] * b[k];
      aa += a[k] * a[k];
      bb += b[k] * b[k];
    }
    sum += aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
  }
  return sum / rows;
}

/** Mean cosine of two gradient tensors [N, ...], read back and disposed. */
export async function gradientCosine(a: Tensor, b: Tensor): Promise<number> {
  try {
    const [da, db] = await Promise.all([a.data(), b.data()]);
    return meanRowCosine(da, db, a.shape[0]);
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** Mean cross-entropy and accuracy of the probe batch's labels at images `xAdv`: one forward pass. */
export async function lossAccuracy(p: ProbeContext, xAdv: Tensor): Promise<{ loss: number; accuracy: number }> {
  const [loss, correct] = tidy(() => {
    const logits = p.model.forward(xAdv);
    return [keep(softmaxCrossEntropy(logits, p.y)), keep(countCorrect(logits, p.y))];
  });
  try {
    return { loss: await loss.item(), accuracy: (await correct.item()) / p.y.shape[0] };
  } finally {
    loss.dispose();
    correct.dispose();
  }
}

export interface ProbeAttack {
  stepSize: number;
  steps: number;
}

/**
 * PGD in the run's threat model from a random start on the probe batch, with the gradient at every iterate: the
 * K steps' gradients and the one at the final point (where an adversarial-training update takes its gradient).
 * Returns the mean cosine of each successive pair (K pairs), the first and last pair's, and the final point
 * (kept: the caller disposes it).
 */
export async function successiveCosines(
  p: ProbeContext,
  o: ProbeAttack,
): Promise<{ mean: number; first: number; last: number; adv: Tensor }> {
  let xAdv = keep(tidy(() => p.threat.randomStart(p.x, p.seed, PROBE_STREAM + p.step)));
  let grad = probeInputGradient(p, xAdv);
  let prev = await grad.data();
  const cosines: number[] = [];
  for (let k = 0; k < o.steps; k++) {
    const next = keep(tidy(() => p.threat.step(p.x, xAdv, grad, o.stepSize)));
    xAdv.dispose();
    grad.dispose();
    xAdv = next;
    grad = probeInputGradient(p, xAdv);
    const cur = await grad.data();
    cosines.push(meanRowCosine(prev, cur, p.x.shape[0]));
    prev = cur;
  }
  grad.dispose();
  const mean = cosines.reduce((s, c) => s + c, 0) / cosines.length;
  return { mean, first: cosines[0], last: cosines.at(-1)!, adv: xAdv };
}
