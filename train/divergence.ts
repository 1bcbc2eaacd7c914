// A loss or a tensor that becomes NaN or Inf stops the run (as PyTorch's anomaly detection would) before it is
// checkpointed: the error names the step, the first non-finite tensor and the last checkpoint, which holds only
// finite values, and the metrics record it.
import { badTensors, describeBad } from '../nn/finite.js';
import type { SafetensorsEntry } from '../nn/safetensors.js';
import { Metrics } from './metrics.js';
import { latestPair, type RunFolder } from './run-folder.js';

/** A loss of `step` that is NaN or Inf (null: a tensor is); divergenceError turns it into the error naming the tensor and checkpoint. */
export class Diverged extends Error {
  constructor(
    readonly step: number,
    readonly loss: number | null,
  ) {
    super(`diverged at step ${step}`);
  }
}

/** The F32 entries holding NaN or Inf (or a negative running variance), in order. */
const nonFinite = (entries: Record<string, SafetensorsEntry>) =>
  badTensors(
    Object.entries(entries).flatMap(([name, e]): [string, Float32Array][] =>
      e.dtype === 'F32' ? [[name, e.data as Float32Array]] : [],
    ),
  );

/** Throws Diverged at `step` if any of the entries about to be checkpointed holds NaN or Inf (or a negative running variance). */
export function checkFinite(entries: Record<string, SafetensorsEntry>, step: number): void {
  if (nonFinite(entries).length) throw new Diverged(step, null);
}

/**
 * The error of a diverged run at `step`: the first tensor of `entries` (weights, batch-norm statistics, optimizer
 * and method state, now) that is NaN or Inf and the last checkpoint in `folder`. Also recorded in its metrics.
 */
export function divergenceError(
  d: Diverged,
  step: number,
  entries: Record<string, SafetensorsEntry>,
  folder: RunFolder,
  runId: string,
): Error {
  const now = nonFinite(entries);
  const tensor = now.length
    ? `at step ${step} the first non-finite tensor is ${describeBad(now[0])}${now.length > 1 ? ` (${now.length} tensors hold such values)` : ''}`
    : `at step ${step} every tensor is still finite`;
  const loss =
    d.loss === null
      ? `${tensor}, found before its checkpoint (the losses read back so far are finite)`
      : `the loss of step ${d.step} is ${d.loss}; ${tensor}`;
  let last: string;
  try {
    last = `the last finite checkpoint, ${latestPair(folder.dir)}, is intact`;
  } catch {
    last = 'no checkpoint was written before it';
  }
  new Metrics(folder.metricsFile, runId).emit('diverged', d.step, {
    loss: d.loss === null ? null : String(d.loss),
    tensors: now.map(describeBad),
  });
  return new Error(
    `training diverged: ${loss}. Stopped without checkpointing it: ${last}. ` +
      'Resuming would repeat the same steps: start a new run with another --out and a lower --lr (or --weight-decay, --momentum)',
  );
}
