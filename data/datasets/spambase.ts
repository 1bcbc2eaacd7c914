// Spambase (Hopkins, Reeber, Forman and Suermondt 1999, UCI): 4,601 e-mails, 57 numeric features (frequencies
// of 48 words and 6 characters, statistics of runs of capitals), spam or not. From Debian's r-cran-kernlab
// (spam.rda, bzip2-compressed R data). No official split: a seeded, stratified 80/20 one.
import { defineDataset } from '../dataset.js';
import { rdaTable } from '../tabular/read.js';
import { tabularDataset } from '../tabular/tabular-dataset.js';
import { L2_WHY, linfInscribed } from '../tabular/threats.js';

export default defineDataset(
  tabularDataset({
    name: 'spambase',
    summary: 'spam e-mail: 57 word, character and capital-run statistics, spam or not (3,680 train / 921 test)',
    files: [{ name: 'spam.rda', sha256: '09281b38bc7b064f63616d9056091f924f59e38aa9fd07dd3bc1af0cba9613d3' }],
    remote: [{ kind: 'debian', package: 'r-cran-kernlab', version: '0.9-32-1' }],
    read: (dir, dataset) => rdaTable(dir, 'spam.rda', 'spam', dataset),
    label: 'type',
    classes: ['nonspam', 'spam'],
    rows: { train: 3680, test: 921 },
    inputs: 57,
    split: { kind: 'stratified', test: 0.2, seed: 0 },
    immutable: { features: [], why: 'every feature is computed from the text of the e-mail, which the spammer writes' },
    threat: { norm: 'l2', eps: 0.5, why: L2_WHY },
    otherThreats: [
      linfInscribed(
        57,
        "0.066 of each feature's training range, e.g. 0.3 percentage points of the frequency of 'make' (0-4.54)",
      ),
    ],
    model: 'mlp-512x2', // the best of the validation search on natural training (docs/experiments.md)
  }),
);
