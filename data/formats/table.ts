// What a reader of tabular data returns (R data frames, ARFF files): named columns, numeric or nominal, with
// missing values marked; data/tabular/ turns it into a model's inputs.
import { DatasetError } from '../errors.js';

/** A column of numbers (NaN marks a missing value) or of codes into `levels` (-1 marks a missing value). */
export type Column =
  | { name: string; kind: 'numeric'; values: Float64Array }
  | { name: string; kind: 'nominal'; codes: Int32Array; levels: readonly string[] };

export interface Table {
  rows: number;
  columns: Column[];
}

/** The column called `name`; the error names the file and the columns there are. */
export function column(t: Table, name: string, file: string): Column {
  const c = t.columns.find((x) => x.name === name);
  if (!c)
    throw new DatasetError(`${file}: no column '${name}'; the columns are ${t.columns.map((x) => x.name).join(', ')}`);
  return c;
}
