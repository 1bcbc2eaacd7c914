// Tabular preprocessing and splits on a small synthetic table, against a host computation written out here:
// min-max scaling fitted on the training rows only (test values outside their range clipped), one-hot over the
// declared levels, median and mode imputation, the box and mutable mask, the seeded stratified split and its
// hash, and the reload from a checkpoint's record that must reproduce the inputs bit for bit.
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Column, Table } from '../data/formats/table.js';
import { splitRows } from '../data/split.js';
import { prepareTable, TABULAR_KEYS, type TabularSpec } from '../data/tabular/tabular-dataset.js';
import { assertThrows, rng } from './helpers.js';

const t = suite('tabular');

const ROWS = 50;
const TRAIN = 40;
const LEVELS = ['red', 'green', 'blue'];

/** 50 rows: a numeric feature with NaNs, a constant one, a nominal one with missing values, and the label. */
function table(): Table {
  const R = rng(11);
  const a = Float64Array.from({ length: ROWS }, (_, i) => (i % 9 === 4 ? NaN : Math.round(R() * 1000) / 10 - 20));
  // Test rows (40..49) reach outside the training range on both sides, so clipping must happen.
  a[42] = 500;
  a[45] = -300;
  const k = Float64Array.from({ length: ROWS }, (_, i) => (i === 47 ? 9 : 3));
  // 'blue' never appears in a training row: its column exists (declared levels) and is 0 throughout training.
  const colour = Int32Array.from({ length: ROWS }, (_, i) =>
    i % 7 === 3 ? -1 : i >= TRAIN && i % 2 ? 2 : i % 3 === 0 ? 0 : 1,
  );
  const label = Int32Array.from({ length: ROWS }, (_, i) => (i % 5 === 0 ? 1 : 0));
  const columns: Column[] = [
    { name: 'a', kind: 'numeric', values: a },
    { name: 'colour', kind: 'nominal', codes: colour, levels: LEVELS },
    { name: 'k', kind: 'numeric', values: k },
    { name: 'y', kind: 'nominal', codes: label, levels: ['no', 'yes'] },
  ];
  return { rows: ROWS, columns };
}

const spec = (over: Partial<TabularSpec> = {}): TabularSpec => ({
  name: 'toy',
  summary: 'a test table',
  files: [],
  remote: [],
  read: () => ({ table: table(), file: 'toy' }),
  label: 'y',
  classes: ['no', 'yes'],
  rows: { train: TRAIN, test: ROWS - TRAIN },
  inputs: 5,
  split: { kind: 'first', train: TRAIN },
  immutable: { features: ['k'], why: 'a test' },
  threat: { norm: 'l2', eps: 0.5, why: 'a test radius' },
  otherThreats: [],
  model: 'mlp-4x1',
  ...over,
});

/** The preprocessing written out plainly: statistics of the training rows, then scale, clip, impute, one-hot. */
function hostInputs(tab: Table, train: number[], rows: number[]): { x: number[]; clipped: number; imputed: number } {
  const [a, colour, k] = tab.columns;
  if (a.kind !== 'numeric' || colour.kind !== 'nominal' || k.kind !== 'numeric') throw new Error('toy table');
  const stats = (v: Float64Array) => {
    const seen = train
      .map((r) => v[r])
      .filter((x) => !Number.isNaN(x))
      .sort((p, q) => p - q);
    const mid = seen.length / 2;
    return {
      min: seen[0],
      max: seen[seen.length - 1],
      median: seen.length % 2 ? seen[Math.floor(mid)] : (seen[mid - 1] + seen[mid]) / 2,
    };
  };
  const counts = [0, 0, 0];
  for (const r of train) if (colour.codes[r] >= 0) counts[colour.codes[r]]++;
  const mode = counts.indexOf(Math.max(...counts));
  let clipped = 0;
  let imputed = 0;
  const num = (v: number, s: { min: number; max: number; median: number }) => {
    if (Number.isNaN(v)) imputed++;
    // A feature constant in training scales by 1, so that any other value is clipped to its [0, 0].
    const z = ((Number.isNaN(v) ? s.median : v) - s.min) / (s.max > s.min ? s.max - s.min : 1);
    const hi = s.max > s.min ? 1 : 0;
    if (z < 0 || z > hi) clipped++;
    return Math.fround(Math.min(Math.max(z, 0), hi));
  };
  const sa = stats(a.values);
  const sk = stats(k.values);
  const x: number[] = [];
  for (const r of rows) {
    const c = colour.codes[r] < 0 ? mode : colour.codes[r];
    if (colour.codes[r] < 0) imputed++;
    x.push(num(a.values[r], sa), ...LEVELS.map((_, j) => (j === c ? 1 : 0)), num(k.values[r], sk));
  }
  return { x, clipped, imputed };
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, i) => lo + i);

t('inputs match a host computation fitted on the training rows only: scaled, clipped, imputed, one-hot', () => {
  const tab = table();
  const d = prepareTable(spec(), tab, 'toy');
  const train = range(0, TRAIN);
  const want = { train: hostInputs(tab, train, train), test: hostInputs(tab, train, range(TRAIN, ROWS)) };
  assert.equal([...d.train.x], want.train.x);
  assert.equal([...d.test.x], want.test.x);
  assert.ok(want.test.clipped >= 3 && want.train.clipped === 0, `clipped ${want.test.clipped}`);
  assert.is(
    d.metadata[TABULAR_KEYS.clipped],
    `0 training and ${want.test.clipped} test values outside the training range clipped to it`,
  );
  assert.match(
    d.metadata[TABULAR_KEYS.imputed],
    new RegExp(`^${want.train.imputed} training and ${want.test.imputed} test values imputed`),
  );
  assert.equal(d.features, ['a', 'colour=red', 'colour=green', 'colour=blue', 'k']);
  assert.equal(
    [...d.train.y],
    range(0, TRAIN).map((i) => (i % 5 === 0 ? 1 : 0)),
  );
  // The box: numeric features' training range after scaling (k is constant: [0, 0]); one-hot [0, 1], fixed.
  assert.equal([...d.box.lower], [0, 0, 0, 0, 0]);
  assert.equal([...d.box.upper], [1, 1, 1, 1, 0]);
  assert.equal([...d.box.mutable], [1, 0, 0, 0, 0]);
  for (const s of [d.train, d.test])
    for (let i = 0; i < s.x.length; i++)
      assert.ok(s.x[i] >= d.box.lower[i % 5] && s.x[i] <= d.box.upper[i % 5], `input ${i} outside the box`);
});

t(
  'a checkpoint record reproduces the test inputs bit for bit even when the training rows (and so a new fit) differ',
  () => {
    const first = prepareTable(spec(), table(), 'toy');
    const moved = table();
    const a = moved.columns[0];
    if (a.kind !== 'numeric') throw new Error('toy table');
    for (let i = 0; i < TRAIN; i++) a.values[i] = a.values[i] * 1.5 + 7;
    const refit = prepareTable(spec(), moved, 'toy');
    const reloaded = prepareTable(spec(), moved, 'toy', { ...first.metadata, dataset: 'toy', method: '{}' });
    assert.ok(
      !Buffer.from(refit.test.x.buffer).equals(Buffer.from(first.test.x.buffer)),
      'a new fit changes the test inputs',
    );
    assert.ok(
      Buffer.from(reloaded.test.x.buffer).equals(Buffer.from(first.test.x.buffer)),
      'the recorded fit reproduces them',
    );
    assert.is(reloaded.metadata[TABULAR_KEYS.preprocessing], first.metadata[TABULAR_KEYS.preprocessing]);
    // A record of another dataset, of another table or of another split is refused, saying which.
    const record = JSON.parse(first.metadata[TABULAR_KEYS.preprocessing]);
    assertThrows(
      () =>
        prepareTable(spec(), table(), 'toy', {
          [TABULAR_KEYS.preprocessing]: JSON.stringify({ ...record, dataset: 'letter' }),
        }),
      /does not fit toy \(toy\): it was fitted on 'letter'/,
    );
    const fewer = { ...record, features: record.features.slice(1) };
    assertThrows(
      () => prepareTable(spec(), table(), 'toy', { [TABULAR_KEYS.preprocessing]: JSON.stringify(fewer) }),
      /it has 2 features, the table 3/,
    );
    const noBlue = {
      ...record,
      features: record.features.map((f: { name: string }) =>
        f.name === 'colour' ? { ...f, levels: ['red', 'green'], mode: 'red' } : f,
      ),
    };
    assertThrows(
      () => prepareTable(spec({ inputs: 4 }), table(), 'toy', { [TABULAR_KEYS.preprocessing]: JSON.stringify(noBlue) }),
      /feature 'colour' has the level 'blue' \(row \d+\), which the preprocessing does not know/,
    );
    const otherSplit = prepareTable(
      spec({ split: { kind: 'first', train: 39 }, rows: { train: 39, test: 11 } }),
      table(),
      'toy',
    ).metadata[TABULAR_KEYS.split];
    assertThrows(
      () => prepareTable(spec(), table(), 'toy', { [TABULAR_KEYS.split]: otherSplit }),
      /the split of toy differs from the recorded one/,
    );
  },
);

t('the stratified split is seeded, keeps each class at 80/20, and its hash is of the index lists', () => {
  const labels = Int32Array.from({ length: 1003 }, (_, i) => (i * 7919) % 3);
  const rule = { kind: 'stratified', test: 0.2, seed: 5 } as const;
  const s = splitRows(labels, 3, rule);
  for (let c = 0; c < 3; c++) {
    const n = labels.filter((l) => l === c).length;
    assert.is(s.test.filter((i) => labels[i] === c).length, Math.round(0.2 * n), `class ${c}`);
  }
  assert.equal(
    [...s.train, ...s.test].sort((p, q) => p - q),
    range(0, 1003),
  );
  assert.ok(
    s.train.every((v, i) => i === 0 || v > s.train[i - 1]) && s.test.every((v, i) => i === 0 || v > s.test[i - 1]),
    'file order',
  );
  const h = createHash('sha256')
    .update(new Uint8Array(Uint32Array.from([s.train.length, ...s.train, ...s.test]).buffer))
    .digest('hex');
  assert.is(s.sha256, h);
  assert.is(splitRows(labels, 3, rule).sha256, s.sha256);
  assert.is.not(splitRows(labels, 3, { ...rule, seed: 6 }).sha256, s.sha256);
  assert.is(s.rule, 'stratified by class, 80/20, seed 5');
  const first = splitRows(labels, 3, { kind: 'first', train: 800 });
  assert.equal([first.train.length, first.test[0], first.test.length], [800, 800, 203]);
});

t('declarations that disagree with the data are refused naming both', () => {
  assertThrows(
    () => prepareTable(spec({ inputs: 6 }), table(), 'toy'),
    /toy: 5 inputs after one-hot encoding; toy declares 6/,
  );
  assertThrows(
    () => prepareTable(spec({ rows: { train: 30, test: 20 } }), table(), 'toy'),
    /gives 40 \/ 10 rows; toy declares 30 \/ 20/,
  );
  assertThrows(
    () => prepareTable(spec({ classes: ['yes', 'no'] }), table(), 'toy'),
    /the label 'y' has levels no, yes; toy declares yes, no/,
  );
  assertThrows(
    () => prepareTable(spec({ immutable: { features: ['age'], why: '' } }), table(), 'toy'),
    /immutable features age are not features of toy/,
  );
  assertThrows(() => prepareTable(spec({ label: 'a' }), table(), 'toy'), /the label 'a' is numeric/);
});

t.run();
