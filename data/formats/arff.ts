// Weka's ARFF text format (dense rows): '%' comment lines, '@relation', one '@attribute NAME TYPE' per column
// (numeric, real or integer; nominal '{a, b, ...}'), then '@data' with one comma-separated row per line, values
// optionally quoted with ' or " (backslash escapes inside), '?' for a missing value. Keywords are case-insensitive.
// String and date attributes and sparse rows ('{...}') are refused naming the line.
import { DatasetError } from '../errors.js';
import type { Column, Table } from './table.js';

interface Field {
  text: string;
  quoted: boolean;
}

/** Splits `s` at commas outside quotes; unquoted fields are trimmed, quoted ones unescaped. */
function splitFields(s: string, fail: (msg: string) => never): Field[] {
  const out: Field[] = [];
  let i = 0;
  for (;;) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    const q = s[i];
    if (q === "'" || q === '"') {
      let text = '';
      for (i++; i < s.length && s[i] !== q; i++) text += s[i] === '\\' && i + 1 < s.length ? s[++i] : s[i];
      if (i >= s.length) fail(`unterminated quote ${q}`);
      i++;
      while (s[i] === ' ' || s[i] === '\t') i++;
      if (i < s.length && s[i] !== ',') fail(`unexpected '${s[i]}' after the quoted value ${q}${text}${q}`);
      out.push({ text, quoted: true });
    } else {
      const end = s.indexOf(',', i);
      out.push({ text: s.slice(i, end < 0 ? s.length : end).trim(), quoted: false });
      i = end < 0 ? s.length : end;
    }
    if (i >= s.length) return out;
    i++; // the comma
  }
}

/** '@attribute NAME TYPE': the name (quoted or one word) and the rest of the line. */
function attributeParts(rest: string, fail: (msg: string) => never): [string, string] {
  const q = rest[0];
  if (q === "'" || q === '"') {
    const end = rest.indexOf(q, 1);
    if (end < 0) fail(`unterminated quote in the attribute name`);
    return [rest.slice(1, end), rest.slice(end + 1).trim()];
  }
  const m = /^(\S+)\s+(.*)$/.exec(rest);
  if (!m) fail('an attribute needs a name and a type');
  return [m[1], m[2].trim()];
}

type Attribute = { name: string; kind: 'numeric' } | { name: string; kind: 'nominal'; levels: string[] };

/** Parses an ARFF file into a table; errors name the file and the line. */
export function parseArff(text: string, file: string): Table {
  const lines = text.split(/\r?\n/);
  const attributes: Attribute[] = [];
  let n = 0;
  function fail(msg: string): never {
    throw new DatasetError(`${file}, line ${n}: ${msg}`);
  }
  // The header.
  for (; n < lines.length;) {
    const line = lines[n++].trim();
    if (line === '' || line.startsWith('%')) continue;
    const m = /^@(\w+)\s*(.*)$/.exec(line);
    if (!m) fail(`expected @relation, @attribute or @data, found ${JSON.stringify(line.slice(0, 40))}`);
    const keyword = m[1].toLowerCase();
    if (keyword === 'relation') continue;
    if (keyword === 'data') break;
    if (keyword !== 'attribute') fail(`unknown keyword @${m[1]}`);
    const [name, type] = attributeParts(m[2], fail);
    if (/^(numeric|real|integer)$/i.test(type)) attributes.push({ name, kind: 'numeric' });
    else if (type.startsWith('{') && type.endsWith('}')) {
      const levels = splitFields(type.slice(1, -1), fail).map((f) => f.text);
      if (new Set(levels).size !== levels.length) fail(`attribute '${name}' repeats a nominal value`);
      attributes.push({ name, kind: 'nominal', levels });
    } else
      fail(`attribute '${name}' has type ${JSON.stringify(type)}; only numeric and nominal attributes are supported`);
  }
  if (attributes.length === 0) fail('no @attribute lines before @data');

  // The rows.
  const numbers: number[][] = attributes.map(() => []);
  const index = attributes.map((a) => (a.kind === 'nominal' ? new Map(a.levels.map((l, i) => [l, i])) : null));
  for (; n < lines.length;) {
    const line = lines[n++].trim();
    if (line === '' || line.startsWith('%')) continue;
    if (line.startsWith('{')) fail('sparse rows ({index value, ...}) are not supported');
    const fields = splitFields(line, fail);
    if (fields.length !== attributes.length)
      fail(`${fields.length} values, expected ${attributes.length} (one per attribute)`);
    fields.forEach((f, j) => {
      const a = attributes[j];
      if (f.text === '?' && !f.quoted) return void numbers[j].push(a.kind === 'numeric' ? NaN : -1);
      if (a.kind === 'numeric') {
        const v = f.text === '' ? NaN : Number(f.text);
        if (f.quoted || !Number.isFinite(v))
          fail(`attribute '${a.name}' is numeric but the value is ${JSON.stringify(f.text)}`);
        numbers[j].push(v);
      } else {
        const code = index[j]?.get(f.text);
        if (code === undefined)
          fail(`attribute '${a.name}' has no value ${JSON.stringify(f.text)} (its values are ${a.levels.join(', ')})`);
        numbers[j].push(code);
      }
    });
  }
  const columns = attributes.map((a, j): Column =>
    a.kind === 'numeric'
      ? { name: a.name, kind: 'numeric', values: Float64Array.from(numbers[j]) }
      : { name: a.name, kind: 'nominal', codes: Int32Array.from(numbers[j]), levels: a.levels },
  );
  return { rows: numbers[0].length, columns };
}
