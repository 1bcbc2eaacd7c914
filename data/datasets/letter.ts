// Letter recognition (Frey & Slate 1991, UCI): 20,000 glyphs of the 26 capital letters in 20 fonts, randomly
// distorted, each described by 16 integer statistics (0-15) of its pixels; the label is the first column. From
// Debian's r-cran-mlbench (LetterRecognition.rda, xz-compressed R data). The conventional split: the first 16,000
// rows train, the last 4,000 test.
import { defineDataset } from '../dataset.js';
import { rdaTable } from '../tabular/read.js';
import { tabularDataset } from '../tabular/tabular-dataset.js';
import { L2_WHY, linfInscribed } from '../tabular/threats.js';

export default defineDataset(
  tabularDataset({
    name: 'letter',
    summary: 'letter recognition: 16 integer statistics of a glyph, 26 letters (16,000 train / 4,000 test)',
    files: [
      { name: 'LetterRecognition.rda', sha256: '967a1a3e10b548d7269cbe50182bcecd6365cc58ea07638bbc34c51f17f34f1d' },
    ],
    remote: [{ kind: 'debian', package: 'r-cran-mlbench', version: '2.1-3-1' }],
    read: (dir, dataset) => rdaTable(dir, 'LetterRecognition.rda', 'LetterRecognition', dataset),
    label: 'lettr',
    classes: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split(''),
    rows: { train: 16000, test: 4000 },
    inputs: 16,
    split: { kind: 'first', train: 16000 },
    immutable: { features: [], why: 'every feature is a statistic of the glyph, which the attacker draws' },
    threat: { norm: 'l2', eps: 0.5, why: L2_WHY },
    otherThreats: [linfInscribed(16, '1.9 steps of the original 0-15 grid on every feature')],
    model: 'mlp-512x3', // the best of the validation search on natural training (docs/experiments.md)
  }),
);
