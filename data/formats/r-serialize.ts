// R's serialization format (R Internals, "Serialization formats"; src/main/serialize.c), the XDR (big-endian)
// variant: enough of it for data: NULL, symbols (with the reference table), pairlists, CHARSXP (NA included),
// logical, integer, double, character and generic vectors, each with its attributes. Anything else (closures,
// environments, ALTREP objects, persistent references, long vectors) is refused naming the type and the file.
// `.rda` files (save()) wrap a stream in 'RDX2\n' or 'RDX3\n' and usually gzip, bzip2 or xz.
import { DatasetError } from '../errors.js';
import { unwrap } from './compression.js';

export type RAttributes = ReadonlyMap<string, RValue>;

/** An R object, named by R's typeof(). Missing values: NA_integer_/NA (INT_MIN), NaN for NA_real_, null for NA_character_. */
export type RValue =
  | { type: 'NULL' }
  | { type: 'symbol'; name: string }
  | { type: 'pairlist'; tags: (string | null)[]; values: RValue[]; attributes: RAttributes }
  | { type: 'logical' | 'integer'; data: Int32Array; attributes: RAttributes }
  | { type: 'double'; data: Float64Array; attributes: RAttributes }
  | { type: 'character'; data: (string | null)[]; attributes: RAttributes }
  | { type: 'list'; data: RValue[]; attributes: RAttributes };

/** R's NA_integer_ and logical NA. */
export const NA_INTEGER = -2147483648;

/** SEXPTYPE codes (Rinternals.h) and the pseudo-types of the stream (serialize.c). */
const SEXP = {
  SYM: 1,
  LIST: 2,
  CHAR: 9,
  LGL: 10,
  INT: 13,
  REAL: 14,
  STR: 16,
  VEC: 19,
  REF: 255,
  NIL: 254,
  PERSIST: 247,
  ALTREP: 238,
} as const;

/** Names of the codes this reader refuses, for the message. */
const UNSUPPORTED: Record<number, string> = {
  3: 'closure',
  4: 'environment',
  5: 'promise',
  6: 'language object',
  7: 'special function',
  8: 'builtin function',
  15: 'complex vector',
  17: '...',
  18: 'any',
  20: 'expression vector',
  21: 'byte code',
  22: 'external pointer',
  23: 'weak reference',
  24: 'raw vector',
  25: 'S4 object',
  239: 'pairlist with attributes (ATTRLISTSXP)',
  240: 'language object with attributes (ATTRLANGSXP)',
  241: 'base environment',
  242: 'empty environment',
  243: 'byte-code reference',
  244: 'byte-code definition',
  245: 'generic reference',
  246: 'class reference',
  248: 'package environment',
  249: 'namespace',
  250: 'base namespace',
  251: 'missing argument',
  252: 'unbound value',
  253: 'global environment',
};

const HAS_ATTR = 1 << 9;
const HAS_TAG = 1 << 10;
/** CHARSXP encoding bits in the flags' `levels` (flags >> 12). */
const ENC = { BYTES: 1 << 1, LATIN1: 1 << 2, UTF8: 1 << 3, ASCII: 1 << 6 } as const;

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');
const NO_ATTRIBUTES: RAttributes = new Map();

class Reader {
  private pos = 0;
  private readonly view: DataView;
  /** Symbols in the order read: a reference item points into this table (1-based). */
  private readonly refs: string[] = [];
  /** The writer's native encoding (format 3); format 2 streams leave it unsaid. */
  native = 'UTF-8';

  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(msg: string, at = this.pos): never {
    throw new DatasetError(`${this.file}: ${msg} (at byte ${at} of the R serialization stream)`);
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length)
      this.fail(`the stream ends early: ${n} more bytes needed, ${this.bytes.length - this.pos} left`);
  }

  int(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, false);
    this.pos += 4;
    return v;
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** 'X\n', then format version, writer's R version, oldest R that reads it, and (format 3) the native encoding. */
  header(): void {
    const magic = String.fromCharCode(...this.raw(2));
    if (magic !== 'X\n') {
      const kind = magic === 'A\n' ? 'ASCII' : magic === 'B\n' ? 'native binary' : `unknown (${JSON.stringify(magic)})`;
      this.fail(
        `serialization format ${kind} is not supported: only XDR ('X') streams are read (save() writes XDR by default)`,
        0,
      );
    }
    const version = this.int();
    this.int();
    this.int();
    if (version === 3) this.native = latin1.decode(this.raw(this.int()));
    else if (version !== 2) this.fail(`serialization format version ${version} is not supported (2 and 3 are)`, 2);
  }

  /** A vector's length; a long vector (length -1, then two words) is refused. */
  private length(type: string): number {
    const at = this.pos;
    const n = this.int();
    if (n === -1) {
      const upper = this.int();
      const lower = this.int() >>> 0;
      this.fail(`a long ${type} vector of ${upper * 2 ** 32 + lower} elements is not supported (at most 2^31 - 1)`, at);
    }
    if (n < 0) this.fail(`${type} vector of negative length ${n}`, at);
    return n;
  }

  private attributes(flags: number): RAttributes {
    if (!(flags & HAS_ATTR)) return NO_ATTRIBUTES;
    const at = this.pos;
    const a = this.item();
    if (a.type !== 'pairlist') this.fail(`attributes are a ${a.type}, expected a pairlist`, at);
    const m = new Map<string, RValue>();
    a.tags.forEach((t, i) => {
      if (t === null) this.fail('an attribute without a name', at);
      m.set(t, a.values[i]);
    });
    return m;
  }

  /** A CHARSXP: its length (-1 is NA_character_) and bytes in the encoding its flags declare. */
  private charsxp(): string | null {
    const at = this.pos;
    const flags = this.int();
    if ((flags & 0xff) !== SEXP.CHAR) this.fail(`expected a string (CHARSXP), found type code ${flags & 0xff}`, at);
    const n = this.int();
    if (n === -1) return null;
    if (n < 0) this.fail(`string of negative length ${n}`, at);
    const b = this.raw(n);
    const levels = flags >> 12;
    if (levels & (ENC.UTF8 | ENC.ASCII)) return utf8.decode(b);
    // Bytes of no declared encoding are shown as Latin-1, so that each byte stays one character.
    if (levels & (ENC.LATIN1 | ENC.BYTES) || /^(latin1|ISO-?8859-1)$/i.test(this.native)) return latin1.decode(b);
    return utf8.decode(b);
  }

  /** The tag of a pairlist cell: a symbol or a reference to one. */
  private tag(): string {
    const at = this.pos;
    const t = this.item();
    if (t.type !== 'symbol') this.fail(`a pairlist tag is a ${t.type}, expected a symbol`, at);
    return t.name;
  }

  item(): RValue {
    const at = this.pos;
    const flags = this.int();
    const type = flags & 0xff;
    switch (type) {
      case SEXP.NIL:
        return { type: 'NULL' };
      case SEXP.REF: {
        const index = flags >> 8 || this.int();
        if (index < 1 || index > this.refs.length)
          this.fail(`reference ${index} points past the ${this.refs.length} symbols read so far`, at);
        return { type: 'symbol', name: this.refs[index - 1] };
      }
      case SEXP.SYM: {
        const name = this.charsxp();
        if (name === null) this.fail('a symbol named NA', at);
        this.refs.push(name);
        return { type: 'symbol', name };
      }
      case SEXP.LIST: {
        // Cells follow one another through their CDR (read here in a loop, not by recursion).
        const tags: (string | null)[] = [];
        const values: RValue[] = [];
        let attributes: RAttributes | null = null;
        let f = flags;
        for (;;) {
          const cellAttributes = this.attributes(f);
          attributes ??= cellAttributes;
          tags.push(f & HAS_TAG ? this.tag() : null);
          values.push(this.item());
          const next = this.pos;
          f = this.int();
          if ((f & 0xff) === SEXP.NIL) return { type: 'pairlist', tags, values, attributes };
          if ((f & 0xff) !== SEXP.LIST)
            this.fail(`a pairlist ends in a type code ${f & 0xff} (dotted pairs are not supported)`, next);
        }
      }
      case SEXP.LGL:
      case SEXP.INT: {
        const n = this.length(type === SEXP.LGL ? 'logical' : 'integer');
        this.need(4 * n);
        const data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = this.view.getInt32(this.pos + 4 * i, false);
        this.pos += 4 * n;
        return { type: type === SEXP.LGL ? 'logical' : 'integer', data, attributes: this.attributes(flags) };
      }
      case SEXP.REAL: {
        const n = this.length('double');
        this.need(8 * n);
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = this.view.getFloat64(this.pos + 8 * i, false);
        this.pos += 8 * n;
        return { type: 'double', data, attributes: this.attributes(flags) };
      }
      case SEXP.STR: {
        const n = this.length('character');
        const data = Array.from({ length: n }, () => this.charsxp());
        return { type: 'character', data, attributes: this.attributes(flags) };
      }
      case SEXP.VEC: {
        const n = this.length('list');
        const data = Array.from({ length: n }, () => this.item());
        return { type: 'list', data, attributes: this.attributes(flags) };
      }
      case SEXP.ALTREP: {
        // info is a pairlist (class symbol, package symbol, base type): read it to name the class.
        const info = this.item();
        const cls = info.type === 'pairlist' && info.values[0]?.type === 'symbol' ? info.values[0].name : 'unknown';
        const pkg =
          info.type === 'pairlist' && info.values[1]?.type === 'symbol' ? ` from package ${info.values[1].name}` : '';
        return this.fail(
          `an ALTREP object (class ${cls}${pkg}) is not supported: re-save the data with an R that expands it, or without ALTREP (e.g. saveRDS(as.vector(x)))`,
          at,
        );
      }
      case SEXP.PERSIST:
        return this.fail(
          'a persistent reference (an object stored outside this stream, e.g. an environment of another package) is not supported',
          at,
        );
      default:
        return this.fail(
          `R type ${UNSUPPORTED[type] ?? 'unknown'} (SEXPTYPE ${type}) is not supported: this reader takes NULL, symbols, pairlists and logical, integer, double, character and list vectors with attributes`,
          at,
        );
    }
  }

  /** Throws unless every byte was read (a stream with trailing bytes is damaged or not what it seems). */
  end(): void {
    if (this.pos !== this.bytes.length) this.fail(`${this.bytes.length - this.pos} bytes left after the object`);
  }
}

/** The object in a serialization stream ('X\n' onwards), e.g. a decompressed lazy-load object or .rds file. */
export function unserialize(bytes: Uint8Array, file: string): RValue {
  const r = new Reader(bytes, file);
  r.header();
  const v = r.item();
  r.end();
  return v;
}

/** The named objects of an .rda file (what load() creates), its gzip, bzip2 or xz wrapper removed. */
export function readRda(bytes: Uint8Array, file: string): Map<string, RValue> {
  const b = unwrap(bytes, file);
  const magic = String.fromCharCode(...b.subarray(0, 5));
  if (magic !== 'RDX2\n' && magic !== 'RDX3\n') {
    throw new DatasetError(
      `${file}: not an R data file: expected 'RDX2' or 'RDX3' after decompression, found ${JSON.stringify(magic)}`,
    );
  }
  const top = unserialize(b.subarray(5), file);
  if (top.type !== 'pairlist')
    throw new DatasetError(`${file}: the top-level object is a ${top.type}, expected the pairlist of saved objects`);
  const out = new Map<string, RValue>();
  top.tags.forEach((t, i) => out.set(t ?? `[[${i + 1}]]`, top.values[i]));
  return out;
}
