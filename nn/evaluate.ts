// Clean evaluation over a dataset split: BN in eval mode (running statistics never change), batches in order.
import { argmax, tidy } from '../engine/index.js';
import { uploadRange } from '../data/loader.js';
import type { SplitData } from '../data/dataset.js';
import type { Classifier } from './model.js';

export interface CleanResult {
  examples: number;
  correct: number;
  /** The predicted class of every example, in dataset order. */
  predictions: Int32Array;
}

export async function evaluateClean(model: Classifier, data: SplitData, batch: number): Promise<CleanResult> {
  const wasTraining = model.training;
  model.eval();
  const predictions = new Int32Array(data.count);
  const pending: Promise<void>[] = [];
  try {
    for (let lo = 0; lo < data.count; lo += batch) {
      const n = Math.min(batch, data.count - lo);
      const pred = tidy(() => argmax(model.forward(uploadRange(data, lo, n, 'test').x)));
      pending.push(
        pred.ints().then((p) => {
          predictions.set(p, lo);
          pred.dispose();
        }),
      );
    }
    await Promise.all(pending);
  } finally {
    model.train(wasTraining);
  }
  let correct = 0;
  for (let i = 0; i < data.count; i++) if (predictions[i] === data.y[i]) correct++;
  return { examples: data.count, correct, predictions };
}
