// An R data.frame (or tibble) as a Table: a list with 'names', a class containing "data.frame" and 'row.names'
// (compact c(NA, -n) or one name per row). Factors (integer codes from 1 with 'levels') become nominal columns;
// double, integer and logical columns numeric, their NAs missing.
import { DatasetError } from '../errors.js';
import { NA_INTEGER, type RValue } from './r-serialize.js';
import type { Column, Table } from './table.js';

const classOf = (v: RValue): (string | null)[] => {
  const c = 'attributes' in v ? v.attributes.get('class') : undefined;
  return c?.type === 'character' ? c.data : [];
};

/** The number of rows that 'row.names' declares. */
function rowCount(rn: RValue | undefined, file: string): number {
  if (rn?.type === 'integer' && rn.data.length === 2 && rn.data[0] === NA_INTEGER) return Math.abs(rn.data[1]);
  if (rn?.type === 'integer' || rn?.type === 'character' || rn?.type === 'double') return rn.data.length;
  throw new DatasetError(`${file}: the data frame's row.names are ${rn ? `a ${rn.type}` : 'missing'}`);
}

function toColumn(name: string, v: RValue, rows: number, file: string): Column {
  const where = `${file}: column '${name}'`;
  if (v.type !== 'integer' && v.type !== 'double' && v.type !== 'logical') {
    const hint = v.type === 'character' ? ' (make it a factor to read it as nominal)' : '';
    throw new DatasetError(`${where} is a ${v.type} vector, which is not supported in a table${hint}`);
  }
  if (v.data.length !== rows)
    throw new DatasetError(`${where} has ${v.data.length} values, the data frame ${rows} rows`);
  if (classOf(v).includes('factor')) {
    const levels = v.attributes.get('levels');
    if (levels?.type !== 'character' || levels.data.includes(null))
      throw new DatasetError(`${where} is a factor without character levels`);
    const codes = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const c = v.data[i];
      if (c !== NA_INTEGER && !(c >= 1 && c <= levels.data.length))
        throw new DatasetError(`${where}, row ${i + 1}: factor code ${c} is outside 1..${levels.data.length}`);
      codes[i] = c === NA_INTEGER ? -1 : c - 1;
    }
    return { name, kind: 'nominal', codes, levels: levels.data as string[] };
  }
  const values =
    v.type === 'double' ? Float64Array.from(v.data) : Float64Array.from(v.data, (x) => (x === NA_INTEGER ? NaN : x));
  return { name, kind: 'numeric', values };
}

/** The columns of a data frame; errors name the file and the column. */
export function dataFrameTable(v: RValue, file: string): Table {
  if (v.type !== 'list' || !classOf(v).includes('data.frame')) {
    throw new DatasetError(
      `${file}: expected a data.frame, found a ${v.type}${classOf(v).length ? ` of class ${classOf(v).join('/')}` : ''}`,
    );
  }
  const names = v.attributes.get('names');
  if (names?.type !== 'character' || names.data.length !== v.data.length)
    throw new DatasetError(`${file}: the data frame's columns have no names`);
  const rows = rowCount(v.attributes.get('row.names'), file);
  return { rows, columns: v.data.map((c, i) => toColumn(names.data[i] ?? `V${i + 1}`, c, rows, file)) };
}
