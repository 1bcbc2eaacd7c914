// A small synthetic image task generated in memory (nothing to fetch): 32x32 RGB images whose class (of 10) sets
// the mean brightness of the red plane, plus uniform noise. For tests, smoke runs and cluster dry runs: a model
// learns it within a few epochs, and every run is a function of its seed alone.
import { mulberry32 } from '../../engine/random.js';
import { defineDataset, unitBox, type SplitData } from '../dataset.js';

const SHAPE = [3, 32, 32] as const;
const PIXELS = 3 * 32 * 32;
const ROWS = { train: 512, test: 256 };

function generate(count: number, seed: number): SplitData {
  const next = mulberry32(seed);
  const x = new Uint8Array(count * PIXELS);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    y[i] = i % 10;
    for (let j = 0; j < PIXELS; j++)
      x[i * PIXELS + j] = Math.floor((next() / 2 ** 32) * 128) + (j < 1024 ? 12 * y[i] : 0);
  }
  return { x, y, count, classes: 10, shape: SHAPE };
}

export default defineDataset({
  name: 'synthetic',
  summary:
    "generated 32x32 RGB images, 10 classes by the red plane's brightness (512 train / 256 test; nothing to fetch)",
  kind: 'image',
  classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  rows: ROWS,
  shape: SHAPE,
  cache: null,
  augment: 'crop-flip',
  threat: { norm: 'linf', eps: 8 / 255, why: 'the CIFAR radius, as the images are CIFAR-shaped' },
  model: 'wrn-10-1',
  load: (_dir, o) => ({
    train: generate(Math.min(o.trainLimit ?? ROWS.train, ROWS.train), 1),
    test: generate(Math.min(o.testLimit ?? ROWS.test, ROWS.test), 2),
    box: unitBox(SHAPE),
    features: null,
    metadata: {},
  }),
});
