// Train/test splits of a table without an official one: a fixed count of leading rows (letter's conventional first
// 16,000 / last 4,000), or a seeded split stratified by class. Both index lists are hashed so that a checkpoint
// records exactly which rows it was trained on, and a later load can check that it sees the same split.
import { createHash } from 'node:crypto';
import { mix, mulberry32 } from '../engine/random.js';

export type SplitRule =
  /** The first `train` rows train, the rest test. */
  | { kind: 'first'; train: number }
  /** Per class, a seeded shuffle of its rows sends round(test * count) of them to the test split. */
  | { kind: 'stratified'; test: number; seed: number };

export interface RowSplit {
  /** Row indices in file order. */
  train: Uint32Array;
  test: Uint32Array;
  /** The rule in words. */
  rule: string;
  /** SHA-256 of the number of training rows, then the train and the test indices, each a uint32 little-endian. */
  sha256: string;
}

export const describeSplit = (r: SplitRule): string =>
  r.kind === 'first'
    ? `the first ${r.train} rows train, the rest test`
    : `stratified by class, ${Math.round(100 * (1 - r.test))}/${Math.round(100 * r.test)}, seed ${r.seed}`;

export function splitHash(train: Uint32Array, test: Uint32Array): string {
  const h = createHash('sha256');
  // The count first: without it, the first 39 rows and the first 40 rows of the same table hash alike.
  for (const a of [Uint32Array.of(train.length), train, test])
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

/** Splits rows labelled `labels` (class codes 0..classes-1) by `rule`. */
export function splitRows(labels: Int32Array, classes: number, rule: SplitRule): RowSplit {
  const n = labels.length;
  const isTest = new Uint8Array(n);
  if (rule.kind === 'first') {
    if (!(rule.train > 0 && rule.train < n)) throw new Error(`split: ${rule.train} training rows of ${n}`);
    isTest.fill(1, rule.train);
  } else {
    for (let c = 0; c < classes; c++) {
      const rows: number[] = [];
      for (let i = 0; i < n; i++) if (labels[i] === c) rows.push(i);
      // Fisher-Yates with a generator seeded by (seed, class): each class's draw is independent of the others.
      const next = mulberry32(mix(rule.seed, c));
      for (let i = rows.length - 1; i > 0; i--) {
        const j = Math.floor((next() / 2 ** 32) * (i + 1));
        [rows[i], rows[j]] = [rows[j], rows[i]];
      }
      for (const r of rows.slice(0, Math.round(rule.test * rows.length))) isTest[r] = 1;
    }
  }
  const test = Uint32Array.from({ length: n }, (_, i) => i).filter((i) => isTest[i]);
  const train = Uint32Array.from({ length: n }, (_, i) => i).filter((i) => !isTest[i]);
  return { train, test, rule: describeSplit(rule), sha256: splitHash(train, test) };
}
