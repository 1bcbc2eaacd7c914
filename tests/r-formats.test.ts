// The readers of R's serialization, of R's lazy-load database and of ARFF, on small files crafted here byte by
// byte: an independent writer below lays out the XDR stream as R Internals describes it, and the system's xz and
// bzip2 (not the decoders the reader uses) compress them.
import { execFileSync } from 'node:child_process';
import { deflateSync, gzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArff } from '../data/formats/arff.js';
import { dataFrameTable } from '../data/formats/r-frame.js';
import { lazyLoadNames, readLazyLoad } from '../data/formats/r-lazyload.js';
import { readRda, unserialize, type RValue } from '../data/formats/r-serialize.js';
import type { Table } from '../data/formats/table.js';
import { assertThrows } from './helpers.js';

const t = suite('r-formats');

// ---- An R serialization writer (XDR), independent of the reader ----

/** What the writer takes: vectors with attributes, pairlists, NULL, or raw words for damaged streams. */
type RV =
  | { t: 'int' | 'lgl'; v: number[]; attrs?: [string, RV][] }
  | { t: 'dbl'; v: (number | 'NA')[]; attrs?: [string, RV][] }
  | { t: 'str'; v: (string | null | { latin1: number[] })[]; attrs?: [string, RV][] }
  | { t: 'list'; v: RV[]; attrs?: [string, RV][] }
  | { t: 'pairlist'; items: [string | null, RV][] }
  | { t: 'null' }
  /** An ALTREP object: flags 238, the info pairlist (class, package, base type), state and attributes. */
  | { t: 'altrep'; cls: string; pkg: string }
  | { t: 'sym'; name: string }
  | { t: 'words'; v: number[] };

const NA_INT = -2147483648;
/** R's NA_real_: a NaN whose low word is 1954. */
const NA_REAL_BYTES = [0x7f, 0xf0, 0, 0, 0, 0, 0x07, 0xa2];
const UTF8 = 1 << 3;
const LATIN1 = 1 << 2;

class RWriter {
  readonly bytes: number[] = [];
  private readonly symbols = new Map<string, number>();
  /** Write references as flags 255 then the index in its own word (R does so past 2^23 symbols). */
  constructor(private readonly longRefs = false) {}

  int(v: number): void {
    this.bytes.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  }
  dbl(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.bytes.push(...b);
  }
  flags(type: number, o: { attr?: boolean; tag?: boolean; levels?: number } = {}): void {
    this.int(type | (o.attr ? 1 << 9 : 0) | (o.tag ? 1 << 10 : 0) | ((o.levels ?? 0) << 12));
  }
  chars(s: string | null | { latin1: number[] }): void {
    if (s === null) {
      this.flags(9);
      this.int(-1);
      return;
    }
    const b = typeof s === 'string' ? [...new TextEncoder().encode(s)] : s.latin1;
    this.flags(9, { levels: typeof s === 'string' ? UTF8 : LATIN1 });
    this.int(b.length);
    this.bytes.push(...b);
  }
  sym(name: string): void {
    const ref = this.symbols.get(name);
    if (ref !== undefined && this.longRefs) {
      this.int(255);
      this.int(ref);
    } else if (ref !== undefined) this.int((ref << 8) | 255);
    else {
      this.flags(1);
      this.chars(name);
      this.symbols.set(name, this.symbols.size + 1);
    }
  }
  /** A vector: flags, length, the elements, then its attributes as a tagged pairlist. */
  private vector<T>(type: number, v: { v: T[]; attrs?: [string, RV][] }, each: (x: T) => void): void {
    this.flags(type, { attr: !!v.attrs?.length });
    this.int(v.v.length);
    v.v.forEach(each);
    if (v.attrs?.length) this.write({ t: 'pairlist', items: v.attrs });
  }
  write(v: RV): void {
    switch (v.t) {
      case 'null':
        return this.int(254);
      case 'words':
        return v.v.forEach((w) => this.int(w));
      case 'sym':
        return this.sym(v.name);
      case 'altrep':
        // As R writes compact_intseq 1:3: the info, the state c(length, start, step), no attributes.
        this.int(238);
        this.write({
          t: 'pairlist',
          items: [
            [null, { t: 'sym', name: v.cls }],
            [null, { t: 'sym', name: v.pkg }],
            [null, { t: 'int', v: [13] }],
          ],
        });
        this.write({ t: 'dbl', v: [3, 1, 1] });
        return this.write({ t: 'null' });
      case 'pairlist':
        for (const [tag, value] of v.items) {
          this.flags(2, { tag: tag !== null });
          if (tag !== null) this.sym(tag);
          this.write(value);
        }
        return this.int(254);
      case 'int':
      case 'lgl':
        return this.vector(v.t === 'int' ? 13 : 10, v, (x) => this.int(x));
      case 'dbl':
        return this.vector(14, v, (x) => (x === 'NA' ? this.bytes.push(...NA_REAL_BYTES) : this.dbl(x)));
      case 'str':
        return this.vector(16, v, (x) => this.chars(x));
      case 'list':
        return this.vector(19, v, (x) => this.write(x));
    }
  }
}

/** An 'X\n' serialization stream of `v`, format 2 or 3. */
function stream(v: RV, o: { version?: 2 | 3; longRefs?: boolean } = {}): Uint8Array {
  const w = new RWriter(o.longRefs);
  w.bytes.push(0x58, 0x0a);
  w.int(o.version ?? 2);
  w.int(0x040200);
  w.int(0x020300);
  if (o.version === 3) {
    w.int(5);
    w.bytes.push(...new TextEncoder().encode('UTF-8'));
  }
  w.write(v);
  return Uint8Array.from(w.bytes);
}

const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
/** The system's compressors, independent of the decoders under test. */
const xz = (b: Uint8Array, args: string[] = []): Uint8Array => execFileSync('xz', ['-c', ...args], { input: b });
const bzip2 = (b: Uint8Array): Uint8Array => execFileSync('bzip2', ['-c'], { input: b });

const frame = (cols: [string, RV][], rows: number): RV => ({
  t: 'list',
  v: cols.map(([, c]) => c),
  attrs: [
    ['names', { t: 'str', v: cols.map(([n]) => n) }],
    ['class', { t: 'str', v: ['data.frame'] }],
    ['row.names', { t: 'int', v: [NA_INT, -rows] }],
  ],
});
const factor = (codes: number[], levels: string[]): RV => ({
  t: 'int',
  v: codes,
  attrs: [
    ['levels', { t: 'str', v: levels }],
    ['class', { t: 'str', v: ['factor'] }],
  ],
});

// A data frame of every column type, with NAs; 'names', 'class' and 'levels' recur, so later ones are references.
const DF = frame(
  [
    ['n', { t: 'int', v: [3, NA_INT, -7] }],
    ['x', { t: 'dbl', v: [1.5, 'NA', -Infinity] }],
    ['ok', { t: 'lgl', v: [1, 0, NA_INT] }],
    ['f', factor([2, NA_INT, 1], ['lo', 'hi'])],
    ['g', factor([1, 1, 3], ['a', 'b', 'c'])],
  ],
  3,
);

function checkDf(v: RValue, file = 'df'): void {
  const tab = dataFrameTable(v, file);
  assert.is(tab.rows, 3);
  assert.equal(
    tab.columns.map((c) => `${c.name}:${c.kind}`),
    ['n:numeric', 'x:numeric', 'ok:numeric', 'f:nominal', 'g:nominal'],
  );
  const [n, x, ok, f, g] = tab.columns;
  assert.ok(
    n.kind === 'numeric' &&
      x.kind === 'numeric' &&
      ok.kind === 'numeric' &&
      f.kind === 'nominal' &&
      g.kind === 'nominal',
  );
  assert.equal([...n.values], [3, NaN, -7]);
  assert.equal([...x.values], [1.5, NaN, -Infinity]);
  assert.equal([...ok.values], [1, 0, NaN]);
  assert.equal([...f.codes], [1, -1, 0]);
  assert.equal(f.levels, ['lo', 'hi']);
  assert.equal([...g.codes], [0, 0, 2]);
}

t('unserialize reads every supported type, NA values, attributes and symbol references (short and long form)', () => {
  for (const longRefs of [false, true]) {
    const v = unserialize(stream(DF, { longRefs }), 'crafted.rds');
    assert.is(v.type, 'list');
    checkDf(v);
  }
  const v = unserialize(
    stream({ t: 'list', v: [{ t: 'null' }, { t: 'str', v: ['é', null, { latin1: [0x63, 0x61, 0x66, 0xe9] }, ''] }] }),
    'c',
  );
  assert.ok(v.type === 'list' && v.data[0].type === 'NULL' && v.data[1].type === 'character');
  assert.equal(v.data[1].data, ['é', null, 'café', '']);
  // NA_real_ and NaN both read as NaN; integers keep R's NA_integer_ (INT_MIN) for the table reader to mark.
  const d = unserialize(stream({ t: 'dbl', v: ['NA', NaN, 0.1] }), 'd');
  assert.ok(d.type === 'double');
  assert.equal([...d.data], [NaN, NaN, 0.1]);
});

t('readRda: RDX2 and RDX3 headers inside gzip, bzip2, xz or nothing; the objects by name', () => {
  const top: RV = {
    t: 'pairlist',
    items: [
      ['df', DF],
      ['answer', { t: 'int', v: [42] }],
    ],
  };
  const plain2 = concat(ascii('RDX2\n'), stream(top));
  const plain3 = concat(ascii('RDX3\n'), stream(top, { version: 3 }));
  for (const [what, bytes] of [
    ['plain', plain2],
    ['RDX3', plain3],
    ['gzip', gzipSync(plain2)],
    ['bzip2', bzip2(plain2)],
    ['xz', xz(plain3)],
  ] as const) {
    const m = readRda(bytes, `${what}.rda`);
    assert.equal([...m.keys()], ['df', 'answer'], what);
    checkDf(m.get('df')!);
    const a = m.get('answer')!;
    assert.ok(a.type === 'integer' && a.data[0] === 42, what);
  }
  assertThrows(
    () => readRda(gzipSync(ascii('hello world')), 'notR.rda'),
    /notR\.rda: not an R data file: expected 'RDX2' or 'RDX3'/,
  );
  assertThrows(
    () => readRda(concat(ascii('RDX2\nA\n'), ascii('2\n')), 'ascii.rda'),
    /ascii\.rda: serialization format ASCII is not supported/,
  );
  assertThrows(() => readRda(xz(plain2).subarray(0, 60), 'cut.rda'), /cut\.rda: cannot decompress its xz data/);
});

t(
  'a long vector, an unsupported type, ALTREP, a persistent reference and a truncated stream are refused naming type and file',
  () => {
    // A long integer vector: length -1, then the upper and lower words of 2^32.
    assertThrows(
      () => unserialize(stream({ t: 'words', v: [13, -1, 1, 0] }), 'long.rds'),
      /long\.rds: a long integer vector of 4294967296 elements is not supported/,
    );
    assertThrows(
      () => unserialize(stream({ t: 'list', v: [{ t: 'words', v: [3] }] }), 'fn.rds'),
      /fn\.rds: R type closure \(SEXPTYPE 3\) is not supported/,
    );
    assertThrows(
      () => unserialize(stream({ t: 'words', v: [4] }), 'env.rds'),
      /env\.rds: R type environment \(SEXPTYPE 4\)/,
    );
    assertThrows(
      () => unserialize(stream({ t: 'words', v: [24, 0] }), 'raw.rds'),
      /raw\.rds: R type raw vector \(SEXPTYPE 24\)/,
    );
    const altrep = stream({ t: 'list', v: [{ t: 'altrep', cls: 'compact_intseq', pkg: 'base' }] }, { version: 3 });
    assertThrows(
      () => unserialize(altrep, 'alt.rds'),
      /alt\.rds: an ALTREP object \(class compact_intseq from package base\) is not supported/,
    );
    assertThrows(
      () => unserialize(stream({ t: 'words', v: [247] }), 'persist.rds'),
      /persist\.rds: a persistent reference/,
    );
    const whole = stream(DF);
    assertThrows(
      () => unserialize(whole.subarray(0, whole.length - 3), 'short.rds'),
      /short\.rds: the stream ends early/,
    );
    assertThrows(
      () => unserialize(concat(whole, Uint8Array.from([0, 0, 0, 0])), 'tail.rds'),
      /tail\.rds: 4 bytes left after the object/,
    );
    assertThrows(
      () => unserialize(stream({ t: 'words', v: [255 | (9 << 8)] }), 'ref.rds'),
      /ref\.rds: reference 9 points past the 0 symbols/,
    );
  },
);

t('dataFrameTable refuses what is not a data frame, character columns and bad factor codes, naming the column', () => {
  assertThrows(
    () => dataFrameTable(unserialize(stream({ t: 'int', v: [1] }), 'x'), 'x.rda'),
    /x\.rda: expected a data\.frame, found a integer/,
  );
  const chr = frame([['s', { t: 'str', v: ['a', 'b'] }]], 2);
  assertThrows(
    () => dataFrameTable(unserialize(stream(chr), 'c'), 'c.rda'),
    /c\.rda: column 's' is a character vector, which is not supported in a table \(make it a factor/,
  );
  const bad = frame([['f', factor([1, 3], ['a', 'b'])]], 2);
  assertThrows(
    () => dataFrameTable(unserialize(stream(bad), 'b'), 'b.rda'),
    /b\.rda: column 'f', row 2: factor code 3 is outside 1\.\.2/,
  );
  const short = frame([['n', { t: 'int', v: [1, 2] }]], 3);
  assertThrows(
    () => dataFrameTable(unserialize(stream(short), 's'), 's.rda'),
    /s\.rda: column 'n' has 2 values, the data frame 3 rows/,
  );
});

// ---- The lazy-load database ----

/** A lazy-load database of `objects`, each stored as `how` says, with the index compressed by `index`. */
function lazyDb(objects: [string, RV, 'Z' | '2' | '1' | '0' | 'zlib'][], compressed: 1 | 3, index: 'zlib' | 'gzip') {
  const records: Uint8Array[] = [];
  const keys: [string, RV][] = [];
  let offset = 0;
  for (const [name, v, how] of objects) {
    const body = stream(v);
    const size = Uint8Array.of(
      body.length >>> 24,
      (body.length >>> 16) & 255,
      (body.length >>> 8) & 255,
      body.length & 255,
    );
    const packed =
      how === 'zlib'
        ? deflateSync(body)
        : concat(
            ascii(how),
            how === 'Z'
              ? xz(body, ['--format=raw', '--lzma2=dict=1MiB'])
              : how === '2'
                ? bzip2(body)
                : how === '1'
                  ? deflateSync(body)
                  : body,
          );
    const record = concat(size, packed);
    keys.push([name, { t: 'int', v: [offset, record.length] }]);
    records.push(record);
    offset += record.length;
  }
  const list = (items: [string, RV][]): RV => ({
    t: 'list',
    v: items.map(([, x]) => x),
    attrs: [['names', { t: 'str', v: items.map(([n]) => n) }]],
  });
  const idx = stream(
    list([
      ['variables', list(keys)],
      ['references', list([])],
      ['compressed', { t: 'int', v: [compressed] }],
    ]),
  );
  return {
    rdx: index === 'gzip' ? gzipSync(idx) : deflateSync(idx),
    rdb: concat(...records),
    rdxName: 'Rdata.rdx',
    rdbName: 'Rdata.rdb',
  };
}

t("the lazy-load reader finds objects by name in each of R's record compressions", () => {
  const other: RV = { t: 'dbl', v: [2.5, -1] };
  const db = lazyDb(
    [
      ['lzma', DF, 'Z'],
      ['bz', other, '2'],
      ['zl', DF, '1'],
      ['stored', other, '0'],
    ],
    3,
    'gzip',
  );
  assert.equal(lazyLoadNames(db), ['lzma', 'bz', 'zl', 'stored']);
  checkDf(readLazyLoad(db, 'lzma'));
  checkDf(readLazyLoad(db, 'zl'));
  for (const name of ['bz', 'stored']) {
    const v = readLazyLoad(db, name);
    assert.ok(v.type === 'double');
    assert.equal([...v.data], [2.5, -1], name);
  }
  // compress = 1: a bare zlib stream after the length, and a zlib-compressed index.
  checkDf(readLazyLoad(lazyDb([['a', DF, 'zlib']], 1, 'zlib'), 'a'));
  assertThrows(
    () => readLazyLoad(db, 'nothere'),
    /Rdata\.rdx: no object 'nothere' in this lazy-load database; it holds lzma, bz, zl, stored/,
  );
  const cut = { ...db, rdb: db.rdb.subarray(0, 20) };
  assertThrows(
    () => readLazyLoad(cut, 'bz'),
    /Rdata\.rdb: 'bz' should lie at bytes \d+\.\.\d+ but the file has 20 bytes/,
  );
  const persistent = lazyDb([['env', { t: 'words', v: [247] }, '0']], 3, 'gzip');
  assertThrows(() => readLazyLoad(persistent, 'env'), /Rdata\.rdb \('env'\): a persistent reference/);
});

// ---- ARFF ----

const ARFF = [
  '% a comment',
  '@RELATION test',
  '',
  "@attribute 'the amount' NUMERIC",
  '@attribute kind {a, \'b c\', "d,e", f/g}',
  '@Attribute n integer',
  '@DATA',
  '% rows follow',
  '1.5, a, 3',
  "?, 'b c', ?",
  ' -2e3 ,"d,e",7',
  '0,?,1',
  '4,f/g,0',
].join('\r\n');

t('parseArff: quoting, comments, case, CRLF, missing values; numeric and nominal columns', () => {
  const tab: Table = parseArff(ARFF, 't.arff');
  assert.is(tab.rows, 5);
  const [amount, kind, n] = tab.columns;
  assert.ok(amount.kind === 'numeric' && kind.kind === 'nominal' && n.kind === 'numeric');
  assert.is(amount.name, 'the amount');
  assert.equal([...amount.values], [1.5, NaN, -2000, 0, 4]);
  assert.equal(kind.levels, ['a', 'b c', 'd,e', 'f/g']);
  assert.equal([...kind.codes], [0, 1, 2, -1, 3]);
  assert.equal([...n.values], [3, NaN, 7, 1, 0]);
});

t('parseArff names the file and line of what it cannot read', () => {
  const head = '@relation r\n@attribute x numeric\n@attribute k {a,b}\n@data\n';
  assertThrows(() => parseArff(`${head}1,a,2\n`, 'w.arff'), /w\.arff, line 5: 3 values, expected 2/);
  assertThrows(
    () => parseArff(`${head}1,z\n`, 'w.arff'),
    /w\.arff, line 5: attribute 'k' has no value "z" \(its values are a, b\)/,
  );
  assertThrows(() => parseArff(`${head}one,a\n`, 'w.arff'), /line 5: attribute 'x' is numeric but the value is "one"/);
  assertThrows(() => parseArff(`${head}1,'a\n`, 'w.arff'), /line 5: unterminated quote '/);
  assertThrows(() => parseArff(`${head}{0 1}\n`, 'w.arff'), /line 5: sparse rows/);
  assertThrows(
    () => parseArff('@relation r\n@attribute s string\n@data\n', 's.arff'),
    /s\.arff, line 2: attribute 's' has type "string"; only numeric and nominal/,
  );
  assertThrows(() => parseArff('@relation r\n@data\n', 'e.arff'), /e\.arff, line 2: no @attribute lines before @data/);
});

t.run();
