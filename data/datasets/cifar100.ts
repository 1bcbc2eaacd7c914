// CIFAR-100 (Krizhevsky 2009): 50,000 + 10,000 32x32 colour images of 100 fine classes (records carry the coarse
// label first), from the official archive; no published checksum, so size and label ranges are checked.
import { cifarDataset } from '../formats/cifar-binary.js';
import { defineDataset } from '../dataset.js';

const FINE = (
  'apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle ' +
  'caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish ' +
  'forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle ' +
  'mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine ' +
  'possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar ' +
  'sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale ' +
  'willow_tree wolf woman worm'
).split(' ');

export default defineDataset(
  cifarDataset(
    {
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
    { summary: '32x32 colour images, 100 classes (50,000 train / 10,000 test)', classes: FINE },
  ),
);
