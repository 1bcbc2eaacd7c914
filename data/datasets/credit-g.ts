// German credit (Hofmann 1994, UCI "Statlog (German Credit Data)"), as Weka's credit-g.arff: 1,000 applicants,
// 7 numeric and 13 nominal features, good or bad credit risk (700 / 300). From Debian's weka package. No
// official split: a seeded, stratified 80/20 one.
import { defineDataset } from '../dataset.js';
import { arffTable } from '../tabular/read.js';
import { tabularDataset } from '../tabular/tabular-dataset.js';
import { L2_WHY, linfInscribed } from '../tabular/threats.js';

export default defineDataset(
  tabularDataset({
    name: 'credit-g',
    summary: 'German credit: 7 numeric and 13 nominal applicant features, good or bad risk (800 train / 200 test)',
    files: [{ name: 'credit-g.arff', sha256: 'bd94085134e4eb845c96b34c93ed65a223f89d089bacb273ef96f57509ce0bed' }],
    remote: [{ kind: 'debian', package: 'weka', version: '3.6.14-3' }],
    read: (dir, dataset) => arffTable(dir, 'credit-g.arff', dataset),
    label: 'class',
    classes: ['good', 'bad'],
    rows: { train: 800, test: 200 },
    inputs: 63,
    split: { kind: 'stratified', test: 0.2, seed: 0 },
    immutable: {
      features: ['age', 'residence_since', 'num_dependents', 'personal_status', 'foreign_worker'],
      why:
        'an applicant cannot change their age, how long they have lived where they live or how many people depend on them; ' +
        'sex and marital status (personal_status) and foreign_worker are facts about the person, not the application ' +
        '(and as one-hot columns fixed anyway); duration, credit_amount, installment_commitment and existing_credits ' +
        'follow from what is asked for and stay mutable',
    },
    threat: { norm: 'l2', eps: 0.5, why: L2_WHY },
    otherThreats: [
      linfInscribed(4, "a quarter of each mutable feature's training range, e.g. 17 months of duration (4-72)"),
    ],
    model: 'mlp-256x3', // the best of the validation search on natural training (docs/experiments.md)
  }),
);
