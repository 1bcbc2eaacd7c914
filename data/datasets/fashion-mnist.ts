// Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 grey-scale clothing images in MNIST's IDX layout, from
// Debian's dataset-fashion-mnist package. Debian re-gzipped the files, so the SHA-256 pinned here is of the
// decompressed files (which match the canonical ones).
import { defineDataset } from '../dataset.js';
import { idxDataset } from '../formats/idx.js';

export default defineDataset(
  idxDataset({
    name: 'fashion-mnist',
    summary: '28x28 grey-scale clothing images, 10 classes (60,000 train / 10,000 test)',
    folder: 'fashion-mnist',
    classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    size: [28, 28],
    rows: { train: 60000, test: 10000 },
    sha256: {
      trainImages: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
      trainLabels: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
      testImages: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
      testLabels: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
    },
    remote: [{ kind: 'debian', package: 'dataset-fashion-mnist', version: '0.0~git20200523.55506a9-1' }],
    gzipped: true,
    threat: {
      norm: 'linf',
      eps: 0.1,
      why: 'the radius most Fashion-MNIST robustness papers use (0.3 erases the objects)',
    },
    model: 'mnist-net',
  }),
);
