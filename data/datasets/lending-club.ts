// Lending Club loans (modeldata's lending_club, a small relative of TabularBench's LCLD): 9,857 loans with 17
// numeric and 5 nominal features, bad or good (517 bad: 5.2%). From Debian's r-cran-modeldata, whose data are a
// lazy-load database (Rdata.rdx + Rdata.rdb, raw LZMA2 per object). No official split: a seeded, stratified 80/20
// one.
import { defineDataset } from '../dataset.js';
import { lazyLoadTable } from '../tabular/read.js';
import { tabularDataset } from '../tabular/tabular-dataset.js';
import { L2_WHY, linfInscribed } from '../tabular/threats.js';

export default defineDataset(
  tabularDataset({
    name: 'lending-club',
    summary: 'Lending Club loans: 17 numeric and 5 nominal features, bad (5.2%) or good (7,886 train / 1,971 test)',
    files: [
      { name: 'Rdata.rdb', sha256: '2ecef5e8da0f782ae4e3f65d928fe769702accffd8981cc358a3097f6736f58f' },
      { name: 'Rdata.rdx', sha256: 'c23e1be60f2730fb526ce158a307e154c91a953169fcb8e73350c4e032e14538' },
    ],
    remote: [{ kind: 'debian', package: 'r-cran-modeldata', version: '1.1.0-1' }],
    read: (dir, dataset) => lazyLoadTable(dir, 'lending_club', dataset),
    label: 'Class',
    classes: ['bad', 'good'],
    rows: { train: 7886, test: 1971 },
    inputs: 119,
    split: { kind: 'stratified', test: 0.2, seed: 0 },
    immutable: {
      features: [
        'int_rate',
        'sub_grade',
        'verification_status',
        'addr_state',
        'emp_length',
        'delinq_2yrs',
        'inq_last_6mths',
        'open_il_6m',
        'open_il_12m',
        'open_il_24m',
        'inq_fi',
        'inq_last_12m',
        'num_il_tl',
        'total_il_high_credit_limit',
      ],
      why:
        'the lender sets int_rate and sub_grade and checks verification_status; the credit history (past ' +
        'delinquencies, inquiries, installment accounts opened and their limits) cannot be undone; addr_state and ' +
        'emp_length are facts about the applicant (and as one-hot columns fixed anyway). Mutable: what the applicant ' +
        'asks for or reports (funded_amnt, annual_inc) and current balances and delinquencies they can pay down ' +
        '(revol_util, all_util, total_bal_il, acc_now_delinq, delinq_amnt)',
    },
    threat: { norm: 'l2', eps: 0.5, why: L2_WHY },
    otherThreats: [
      linfInscribed(7, "0.188 of each mutable feature's training range, e.g. $7,300 of funded_amnt (1,000-40,000)"),
    ],
    model: 'mlp-64x2', // the best of the validation search on natural training (docs/experiments.md)
  }),
);
