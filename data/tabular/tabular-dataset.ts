// A tabular dataset from its descriptor: the raw table read from the cache, split (by its rule, the index lists
// hashed), preprocessed (fitted on the training rows, or taken from a checkpoint's record) and boxed. Everything
// a checkpoint needs to reproduce the inputs goes into the metadata under the keys in TABULAR_KEYS.
import type { CacheFile, CacheSpec, RemoteSource } from '../cache-spec.js';
import {
  defineDataset,
  limitSplit,
  type DatasetDescriptor,
  type LoadedDataset,
  type ThreatDefaults,
} from '../dataset.js';
import { DatasetError } from '../errors.js';
import { column, type Table } from '../formats/table.js';
import { applyPreprocessing, checkRecord, featureBox, fitPreprocessing, inputNames } from './preprocess.js';
import { splitRows, type SplitRule } from '../split.js';

export interface TabularSpec {
  name: string;
  summary: string;
  /** The files the cache keeps (in the folder named like the dataset), with their pinned SHA-256, and their sources. */
  files: CacheFile[];
  remote: RemoteSource[];
  /** Reads the raw table from the verified cache folder (`dataset` names it in messages), and names its file. */
  read(dir: string, dataset: string): { table: Table; file: string };
  /** The label column, nominal; its levels are the classes. */
  label: string;
  classes: readonly string[];
  rows: { train: number; test: number };
  /** The model's inputs after one-hot encoding: declared so that the shape is known before anything is fetched. */
  inputs: number;
  split: SplitRule;
  /** Features an attacker cannot change (numeric ones get mutable 0; one-hot columns are fixed anyway), and why. */
  immutable: { features: readonly string[]; why: string };
  threat: ThreatDefaults;
  otherThreats: readonly ThreatDefaults[];
  model: string;
}

/** Where a tabular dataset's record lives in a checkpoint's metadata. */
export const TABULAR_KEYS = {
  /** The fitted preprocessing (JSON of preprocess.ts's Preprocessing): what `recorded` reproduces. */
  preprocessing: 'tabular.preprocessing',
  /** The split (JSON: rule, rows per split, SHA-256 of the index lists): checked against the data on reload. */
  split: 'tabular.split',
  /** What the preprocessing changed in this load, in words (not needed to reproduce it). */
  imputed: 'tabular.imputed',
  clipped: 'tabular.clipped',
} as const;

/** The labels as class codes, checked against the declared classes. */
function labelCodes(s: TabularSpec, t: Table, file: string): Int32Array {
  const c = column(t, s.label, file);
  if (c.kind !== 'nominal')
    throw new DatasetError(`${file}: the label '${s.label}' is numeric, expected a factor of classes`);
  if (c.levels.join('\n') !== s.classes.join('\n')) {
    throw new DatasetError(
      `${file}: the label '${s.label}' has levels ${c.levels.join(', ')}; ${s.name} declares ${s.classes.join(', ')}`,
    );
  }
  const missing = c.codes.indexOf(-1);
  if (missing >= 0) throw new DatasetError(`${file}: row ${missing + 1} has no label`);
  return c.codes;
}

/** Splits, preprocesses and boxes a table (all rows; limits come after). `recorded`: a checkpoint's metadata. */
export function prepareTable(
  s: TabularSpec,
  t: Table,
  file: string,
  recorded: Record<string, string> = {},
): LoadedDataset {
  const labels = labelCodes(s, t, file);
  const split = splitRows(labels, s.classes.length, s.split);
  if (split.train.length !== s.rows.train || split.test.length !== s.rows.test) {
    throw new DatasetError(
      `${file}: the split (${split.rule}) gives ${split.train.length} / ${split.test.length} rows; ${s.name} declares ${s.rows.train} / ${s.rows.test}`,
    );
  }
  const splitRecord = JSON.stringify({
    rule: split.rule,
    train: split.train.length,
    test: split.test.length,
    sha256: split.sha256,
  });
  const recordedPrep = recorded[TABULAR_KEYS.preprocessing];
  const prep =
    recordedPrep !== undefined
      ? checkRecord(recordedPrep, t, s.name, file)
      : fitPreprocessing(t, s.name, s.label, split.train, file);
  const before = recorded[TABULAR_KEYS.split];
  if (before !== undefined && (JSON.parse(before) as { sha256?: string }).sha256 !== split.sha256) {
    throw new DatasetError(
      `${s.name}: the split of ${file} differs from the recorded one (${before} vs ${splitRecord}): the data or the split rule changed since the checkpoint was written`,
    );
  }
  const features = inputNames(prep);
  if (features.length !== s.inputs)
    throw new DatasetError(`${file}: ${features.length} inputs after one-hot encoding; ${s.name} declares ${s.inputs}`);
  const unknown = s.immutable.features.filter((f) => !prep.features.some((p) => p.name === f));
  if (unknown.length)
    throw new DatasetError(`${s.name}: immutable features ${unknown.join(', ')} are not features of ${file}`);

  const shape = [s.inputs] as const;
  const train = applyPreprocessing(prep, t, split.train, file);
  const test = applyPreprocessing(prep, t, split.test, file);
  const y = (rows: Uint32Array) => Int32Array.from(rows, (r) => labels[r]);
  return {
    train: { x: train.x, y: y(split.train), count: split.train.length, classes: s.classes.length, shape },
    test: { x: test.x, y: y(split.test), count: split.test.length, classes: s.classes.length, shape },
    box: featureBox(prep, s.immutable.features),
    features,
    metadata: {
      [TABULAR_KEYS.preprocessing]: JSON.stringify(prep),
      [TABULAR_KEYS.split]: splitRecord,
      [TABULAR_KEYS.imputed]: `${train.imputed} training and ${test.imputed} test values imputed (numeric: training median, nominal: training mode)`,
      [TABULAR_KEYS.clipped]: `${train.clipped} training and ${test.clipped} test values outside the training range clipped to it`,
    },
  };
}

/** What --source may point at: the files, a folder holding them, or a package of the sources. */
function sourceHint(s: TabularSpec): string {
  const names = s.files.map((f) => f.name).join(' and ');
  const packages = s.remote.map((r) =>
    r.kind === 'debian'
      ? `Debian's ${r.package} .deb`
      : r.kind === 'npm'
        ? `the npm tarball of ${r.package}`
        : r.archive,
  );
  return [names, `a folder holding ${s.files.length > 1 ? 'them' : 'it'}`, ...packages].join(', or ');
}

/** The descriptor of a tabular dataset. */
export function tabularDataset(s: TabularSpec): DatasetDescriptor {
  const cache: CacheSpec = {
    name: s.name,
    folder: s.name,
    files: s.files,
    remote: s.remote,
    sourceHint: sourceHint(s),
  };
  return defineDataset({
    name: s.name,
    summary: s.summary,
    kind: 'tabular',
    classes: s.classes,
    rows: s.rows,
    shape: [s.inputs],
    cache,
    augment: null,
    threat: s.threat,
    otherThreats: s.otherThreats,
    immutable: s.immutable,
    model: s.model,
    load(dir, o) {
      const { table, file } = s.read(dir, s.name);
      const d = prepareTable(s, table, file, o.recorded);
      return { ...d, train: limitSplit(d.train, o.trainLimit), test: limitSplit(d.test, o.testLimit) };
    },
  });
}
