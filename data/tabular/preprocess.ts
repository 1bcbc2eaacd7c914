// Tabular preprocessing, fitted on the training rows only (TabularBench's convention): numeric features min-max
// scaled to [0, 1], missing numbers imputed with the training median; nominal features one-hot over all their
// declared levels (so the width is known before any data is read), a missing level imputed with the training
// mode. Values outside the training range (test rows) are clipped into [0, 1], so that every input lies in the
// box an attacker is confined to. The fitted parameters are a JSON record kept in every checkpoint; applying a
// record gives bit-identical inputs whatever the rows it was fitted on.
import type { FeatureBox } from '../dataset.js';
import { DatasetError } from '../errors.js';
import type { Column, Table } from '../formats/table.js';

export type FeatureRecord =
  | { name: string; kind: 'numeric'; min: number; max: number; median: number }
  | { name: string; kind: 'nominal'; levels: string[]; mode: string };

export interface Preprocessing {
  dataset: string;
  /** The label column (not a feature). */
  label: string;
  /** In input order; a nominal feature expands to one column per level. */
  features: FeatureRecord[];
}

/** Counts of what applying the preprocessing changed, for the metadata. */
export interface Applied {
  x: Float32Array;
  imputed: number;
  clipped: number;
}

function median(sorted: Float64Array): number {
  const h = sorted.length >> 1;
  return sorted.length % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}

function fitColumn(c: Column, rows: Uint32Array, file: string): FeatureRecord {
  if (c.kind === 'numeric') {
    const seen = Float64Array.from(rows, (r) => c.values[r])
      .filter((v) => !Number.isNaN(v))
      .sort();
    if (seen.length === 0) throw new DatasetError(`${file}: feature '${c.name}' has no value in the training rows`);
    return { name: c.name, kind: 'numeric', min: seen[0], max: seen[seen.length - 1], median: median(seen) };
  }
  const counts = new Int32Array(c.levels.length);
  for (const r of rows) if (c.codes[r] >= 0) counts[c.codes[r]]++;
  // The most frequent level; ties go to the first declared.
  const mode = counts.reduce((best, n, i) => (n > counts[best] ? i : best), 0);
  return { name: c.name, kind: 'nominal', levels: [...c.levels], mode: c.levels[mode] };
}

/** The table's features: every column but the label. */
const featureColumns = (t: Table, label: string): Column[] => t.columns.filter((c) => c.name !== label);

/** Fits the preprocessing on the rows `train` of the table. */
export function fitPreprocessing(
  t: Table,
  dataset: string,
  label: string,
  train: Uint32Array,
  file: string,
): Preprocessing {
  return { dataset, label, features: featureColumns(t, label).map((c) => fitColumn(c, train, file)) };
}

/** The names of the model's inputs: a numeric feature's name, or NAME=LEVEL per level of a nominal one. */
export const inputNames = (p: Preprocessing): string[] =>
  p.features.flatMap((f) => (f.kind === 'numeric' ? [f.name] : f.levels.map((l) => `${f.name}=${l}`)));

/** Min-max scaling: the training range to [0, 1]; a feature constant in training to [0, 0] (any other value is then outside it). */
const scale = (f: { min: number; max: number }, v: number): number => (v - f.min) / (f.max > f.min ? f.max - f.min : 1);

/** The model's inputs for `rows` of the table, [rows, inputs] row-major. */
export function applyPreprocessing(p: Preprocessing, t: Table, rows: Uint32Array, file: string): Applied {
  const cols = featureColumns(t, p.label);
  const width = inputNames(p).length;
  const x = new Float32Array(rows.length * width);
  let imputed = 0;
  let clipped = 0;
  let at = 0;
  p.features.forEach((f, j) => {
    const c = cols[j];
    if (f.kind === 'numeric') {
      if (c.kind !== 'numeric') throw new Error('preprocessing: column kinds were checked by checkRecord');
      const hi = scale(f, f.max);
      rows.forEach((r, i) => {
        const missing = Number.isNaN(c.values[r]);
        if (missing) imputed++;
        const s = scale(f, missing ? f.median : c.values[r]);
        if (s < 0 || s > hi) clipped++;
        x[i * width + at] = Math.min(Math.max(s, 0), hi);
      });
      at++;
      return;
    }
    if (c.kind !== 'nominal') throw new Error('preprocessing: column kinds were checked by checkRecord');
    // The table's codes mapped to the record's levels by name (-1: a level the record does not know).
    const map = c.levels.map((l) => f.levels.indexOf(l));
    const mode = f.levels.indexOf(f.mode);
    rows.forEach((r, i) => {
      const k = c.codes[r] < 0 ? mode : map[c.codes[r]];
      if (c.codes[r] < 0) imputed++;
      else if (k < 0)
        throw new DatasetError(
          `${file}: feature '${f.name}' has the level '${c.levels[c.codes[r]]}' (row ${r + 1}), which the preprocessing does not know (${f.levels.join(', ')})`,
        );
      x[i * width + at + k] = 1;
    });
    at += f.levels.length;
  });
  return { x, imputed, clipped };
}

/**
 * The box of the inputs: each numeric feature's training range after scaling ([0, 1], or [0, 0] if constant),
 * mutable unless declared immutable; one-hot columns [0, 1] and never mutable (a step would leave the one-hot set).
 */
export function featureBox(p: Preprocessing, immutable: readonly string[]): FeatureBox {
  const names = inputNames(p);
  const box: FeatureBox = {
    lower: new Float32Array(names.length),
    upper: new Float32Array(names.length),
    mutable: new Uint8Array(names.length),
  };
  let at = 0;
  for (const f of p.features) {
    if (f.kind === 'numeric') {
      box.upper[at] = scale(f, f.max);
      box.mutable[at++] = immutable.includes(f.name) ? 0 : 1;
    } else {
      box.upper.fill(1, at, at + f.levels.length);
      at += f.levels.length;
    }
  }
  return box;
}

/** Parses a recorded preprocessing and checks that it fits the table; errors say what differs. */
export function checkRecord(json: string, t: Table, dataset: string, file: string): Preprocessing {
  let p: Preprocessing;
  try {
    p = JSON.parse(json) as Preprocessing;
  } catch (e) {
    throw new DatasetError(`the recorded tabular preprocessing is not JSON (${(e as Error).message})`);
  }
  const bad = (why: string): never => {
    throw new DatasetError(`the recorded tabular preprocessing does not fit ${dataset} (${file}): ${why}`);
  };
  if (p.dataset !== dataset) bad(`it was fitted on '${p.dataset}'`);
  const cols = featureColumns(t, p.label);
  if (!Array.isArray(p.features) || cols.length !== p.features.length)
    bad(`it has ${p.features?.length} features, the table ${cols.length}`);
  p.features.forEach((f, j) => {
    const c = cols[j];
    if (f.name !== c.name || f.kind !== c.kind)
      bad(`feature ${j + 1} is ${f.kind} '${f.name}' there, ${c.kind} '${c.name}' here`);
    const ok =
      f.kind === 'numeric'
        ? [f.min, f.max, f.median].every(Number.isFinite)
        : Array.isArray(f.levels) && f.levels.includes(f.mode);
    if (!ok) bad(`feature '${f.name}' has an incomplete record`);
  });
  return p;
}
