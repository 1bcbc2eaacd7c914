// The epoch in progress: its sums, from losses and accuracies read back in groups (so that the GPU queue never
// drains while the host waits; a loss that is NaN or Inf stops the run), and its summary once it is evaluated.
import { memory, type Tensor } from '../engine/index.js';
import { noPasses, type PassCounts, type StepResult } from '../adversarial/method.js';
import { Diverged } from './divergence.js';

/** The sums of the epoch in progress, kept in the training state so that a resumed epoch reports what an uninterrupted one would. */
export interface EpochTotals {
  lossSum: number;
  correct: number;
  seen: number;
  seconds: number;
  passes: PassCounts;
}

export const noEpochTotals = (): EpochTotals => ({ lossSum: 0, correct: 0, seen: 0, seconds: 0, passes: noPasses() });

export interface EpochSummary {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
  passes: PassCounts;
}

/** Results are read back in groups of this many steps. */
const READBACK_GROUP = 8;

/** Steps whose loss and accuracy are not read back yet. */
export class PendingSteps {
  private pending: { loss: Tensor; correct: Tensor; count: number; step: number }[] = [];

  /** Whether a group is complete: time to read it back. */
  get full(): boolean {
    return this.pending.length >= READBACK_GROUP;
  }

  /** Step `step` (counting from 1) of `count` examples, with its result. */
  push(result: StepResult, count: number, step: number): void {
    this.pending.push({ ...result, count, step });
  }

  /** Reads the pending steps back into `into`; a loss that is not finite throws Diverged naming its step. */
  async drain(into: EpochTotals): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const values = await Promise.all(
      pending.map(async (p) => [await p.loss.item(), await p.correct.item(), p.count] as const),
    );
    for (const p of pending) {
      p.loss.dispose();
      p.correct.dispose();
    }
    const bad = values.findIndex(([loss]) => !Number.isFinite(loss));
    if (bad >= 0) throw new Diverged(pending[bad].step, values[bad][0]);
    for (const [loss, correct, count] of values) {
      into.lossSum += loss * count;
      into.correct += correct;
      into.seen += count;
    }
  }
}

/** Epoch `epoch` (from 1) summed up, with its test evaluation. */
export function epochSummary(
  epoch: number,
  s: EpochTotals,
  test: { correct: number; examples: number },
  seconds: number,
): EpochSummary {
  return {
    epoch,
    trainLoss: s.lossSum / s.seen,
    trainAccuracy: s.correct / s.seen,
    testAccuracy: test.correct / test.examples,
    seconds,
    imagesPerSecond: s.seen / seconds,
    passes: s.passes,
  };
}

/** The fields of the epoch's metrics line. */
export const epochFields = (s: EpochSummary, testExamples: number) => ({
  epoch: s.epoch,
  train_loss: s.trainLoss,
  train_accuracy: s.trainAccuracy,
  test_accuracy: s.testAccuracy,
  test_examples: testExamples,
  seconds: s.seconds,
  images_per_second: s.imagesPerSecond,
  passes: s.passes,
  gpu_bytes_in_use: memory().bytesInUse,
});

/** The epoch's progress line. */
export const epochLine = (
  s: EpochSummary,
  epochs: number,
  testExamples: number,
  split: 'validation' | 'test',
): string =>
  `epoch ${s.epoch}/${epochs}: train loss ${s.trainLoss.toFixed(4)} acc ${(s.trainAccuracy * 100).toFixed(2)}%, ` +
  `${split} acc ${(s.testAccuracy * 100).toFixed(2)}% (${testExamples} examples), ${(s.seconds / 60).toFixed(1)} min, ${s.imagesPerSecond.toFixed(1)} img/s`;
