// A tiny synthetic CIFAR-shaped task and run configuration for the trainer and run-folder tests (wrn-10-1,
// 48 training images in 3 batches of 16 per epoch: seconds per run).
import { readFileSync } from 'node:fs';
import type { SplitData } from '../data/dataset.js';
import { IMAGE_THREAT } from '../adversarial/threat.js';
import type { Trainer } from '../train/trainer.js';
import type { Datasets, RunConfig } from '../train/run-config.js';
import { rng } from './helpers.js';

/** Two classes told apart by the mean brightness of the red plane. */
export function synthetic(count: number, seed: number): SplitData {
  const r = rng(seed);
  const images = new Uint8Array(count * 3072);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let j = 0; j < 3072; j++) images[i * 3072 + j] = Math.floor(r() * 128) + (j < 1024 && labels[i] ? 127 : 0);
  }
  return { x: images, y: labels, count, classes: 10, shape: [3, 32, 32] };
}

export const DATA: Datasets = { train: synthetic(48, 1), test: synthetic(32, 2) };

export const config = (over: Partial<RunConfig> = {}): RunConfig => ({
  data: 'synthetic',
  model: 'wrn-10-1',
  classes: 10,
  epochs: 2,
  batch: 16,
  lr: 0.05,
  schedule: 'multistep',
  optimizer: 'sgd',
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  decay: 'weights',
  seed: 3,
  augment: true,
  trainLimit: null,
  testLimit: null,
  method: { name: 'natural' },
  threat: IMAGE_THREAT,
  normalization: 'none',
  checkpointMinutes: 60,
  logEvery: 2,
  ...over,
});

export async function weights(tr: Trainer): Promise<Float32Array[]> {
  return Promise.all(tr.model.namedParameters().map(([, p]) => p.tensor.data()));
}

/** The JSON lines of a metrics file. */
export const lines = (file: string): Record<string, unknown>[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
