// Flag parsing shared by the commands: declared flags with defaults and a parser each, run once before any work;
// a command reads each flag as its parser typed it (Values), and a message quoting a flag reads its text (flagText).
import { parseArgs } from 'node:util';

export class CliError extends Error {}

export interface Flag<T = unknown> {
  type: 'string' | 'boolean';
  help: string;
  /** The value when the flag is not given, as it would be written on the command line (parsed like a given one). */
  default?: string | boolean;
  short?: string;
  /**
   * Turns a string value into what the command reads, once, before any work: throws CliError (any other error
   * becomes one) naming the flag and the valid range. Without it the value is the string.
   */
  parse?: (v: string) => T;
  /** The flag may be given more than once (its value is then the list); any other flag given twice is refused. */
  repeatable?: boolean;
}

export type FlagSet = Record<string, Flag>;

/** A flag's value: a boolean flag's, its parser's result, or the string (a set with dynamic flags: any of them). */
type Parsed<F> = F extends { type: 'boolean' }
  ? boolean
  : F extends { type: 'string' }
    ? F extends { parse: (v: string) => infer T }
      ? T
      : string
    : boolean | (F extends { parse?: (v: string) => infer T } ? T : string);

type FlagValue<F> = F extends { repeatable: true }
  ? Parsed<F>[]
  : F extends { default: string | boolean }
    ? Parsed<F>
    : Parsed<F> | undefined;

/** What every command reads besides its own flags. */
export interface GlobalValues {
  backend?: string;
  adapter?: string;
}

/** The values a command reads: each flag's parsed value (its default's where not given); `Rest` names the positional list. */
export type Values<F extends FlagSet, Rest extends string = never> = { [K in keyof F]: FlagValue<F[K]> } & {
  [K in Rest]: string[];
} & GlobalValues;

/** Any command's values, by name (for code that serves several commands and reads only flags they share). */
export type Flags = Record<string, unknown> & GlobalValues;

export interface Command<F extends FlagSet = FlagSet, Rest extends string = never> {
  name: string;
  summary: string;
  flags: F;
  /** A flag that may also be given as the one positional argument (`advfree data cifar10`). */
  positional?: keyof F & string;
  /** The positional arguments, all of them (`advfree plot RUN...`), as the list under this name, possibly empty. */
  rest?: Rest;
  /** Checks flags together (e.g. --eps against --norm and --data) after each flag's own parser; throws CliError. */
  check?(flags: Values<F, Rest>): void;
  run(flags: Values<F, Rest>): Promise<number>;
}

/** Any command, as the dispatcher, --help and the tests hold them (each reads its own flags' types). */
export interface AnyCommand {
  name: string;
  summary: string;
  flags: FlagSet;
  positional?: string;
  rest?: string;
  check?(flags: never): void;
  run(flags: never): Promise<number>;
}

/** A command whose `run` and `check` read its flags' values as their parsers type them. */
export const command = <F extends FlagSet, Rest extends string = never>(c: Command<F, Rest>): Command<F, Rest> => c;

/** The values parseCommand returns for a command. */
export type FlagsOf<C> = C extends Command<infer F, infer Rest> ? Values<F, Rest> : never;

export const GLOBAL_FLAGS = {
  backend: { type: 'string', help: 'Dawn backend (vulkan, metal, d3d12)' },
  adapter: { type: 'string', help: 'adapter name substring' },
} satisfies FlagSet;

/** The parser of a flag naming one of `choices`. */
export function oneOf<T extends string>(name: string, choices: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(choices as readonly string[]).includes(v))
      throw new CliError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

export function intFlag(name: string, lo: number, hi = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi)
      throw new CliError(`--${name} must be an integer in [${lo}, ${hi}], got '${v}'`);
    return n;
  };
}

export function numFlag(name: string, lo: number, hi: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi)
      throw new CliError(`--${name} must be a number in [${lo}, ${hi}], got '${v}'`);
    return n;
  };
}

/** A parser that checks a value with `check` (which throws on a bad one) and keeps the string. */
export const checkedBy =
  (check: (v: string) => unknown) =>
  (v: string): string => (check(v), v);

export function helpText(cmd: AnyCommand): string {
  const all: FlagSet = { ...cmd.flags, ...GLOBAL_FLAGS };
  const rows = Object.entries(all).map(([k, f]) => {
    const left = `  --${k}${f.type === 'string' ? ' VALUE' : ''}`;
    const def = f.default !== undefined ? ` (default: ${f.default})` : '';
    return `${left.padEnd(30)}${f.help}${def}${f.repeatable ? ' (may be given more than once)' : ''}`;
  });
  return `advfree ${cmd.name}: ${cmd.summary}\n\nFlags:\n${rows.join('\n')}\n  -h, --help                  this help`;
}

/** Per parsed set: the flags that came from defaults, and each flag's text as given (or defaulted). */
const DEFAULTED = new WeakMap<object, ReadonlySet<string>>();
const TEXT = new WeakMap<object, Readonly<Record<string, string | string[]>>>();

/** The flags given on the command line of a set parseCommand returned (defaults left out). */
export function givenFlags(flags: object): Set<string> {
  const defaulted = DEFAULTED.get(flags) ?? new Set();
  return new Set(
    Object.keys(flags).filter((k) => (flags as Record<string, unknown>)[k] !== undefined && !defaulted.has(k)),
  );
}

/** A flag's value by a name known only at run time (the options' flags of a registry). */
export const flagValue = (flags: object, name: string): unknown => (flags as Record<string, unknown>)[name];

/** A string flag's text as it was written (or its default), for messages that quote it: `--eps 8/255`, not 0.0314. */
export function flagText(flags: object, name: string): string | undefined {
  const t = TEXT.get(flags)?.[name];
  return Array.isArray(t) ? t.join(',') : t;
}

/**
 * `--beta -1` as `--beta=-1`: parseArgs refuses a value that starts with a dash, so a negative number would be
 * reported as a missing argument instead of reaching the flag's range check.
 */
function joinNegatives(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return [...out, ...argv.slice(i)];
    const name = /^--([^=]+)$/.exec(argv[i])?.[1];
    if (name && options[name]?.type === 'string' && /^-\.?\d/.test(argv[i + 1] ?? ''))
      out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

/** Parses and validates a command's flags, each by its parser; returns 'help' after printing help. */
export function parseCommand<F extends FlagSet, Rest extends string>(
  cmd: Command<F, Rest>,
  argv: string[],
): Values<F, Rest> | 'help';
export function parseCommand(cmd: AnyCommand, argv: string[]): Flags | 'help';
export function parseCommand(cmd: AnyCommand, argv: string[]): Flags | 'help' {
  const all: FlagSet = { ...cmd.flags, ...GLOBAL_FLAGS };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  // Every flag is parsed as repeatable, so that a repeat is seen (parseArgs would keep the last value silently).
  for (const [k, f] of Object.entries(all))
    options[k] = { type: f.type, multiple: true, ...(f.short ? { short: f.short } : {}) };
  type Raw = Record<string, string | boolean | string[] | boolean[] | undefined>;
  let values: Raw;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: joinNegatives(argv, options),
      options,
      strict: true,
      allowPositionals: !!(cmd.positional || cmd.rest),
    }) as { values: Raw; positionals: string[] });
  } catch (e) {
    throw new CliError(`${cmd.name}: ${(e as Error).message}`);
  }
  for (const [k, v] of Object.entries(values)) {
    if (!Array.isArray(v) || k === 'help' || all[k].repeatable) continue;
    if (v.length > 1) {
      const given =
        all[k].type === 'boolean'
          ? `${v.length} times`
          : `${v.length} times (${v.map((x) => `'${x}'`).join(', then ')})`;
      throw new CliError(`${cmd.name}: --${k} given ${given}; give it once`);
    }
    values[k] = v[0];
  }
  const help = Array.isArray(values.help) ? values.help.some(Boolean) : !!values.help;
  delete values.help;
  if (cmd.rest) values[cmd.rest] = positionals;
  else if (positionals.length > 1)
    throw new CliError(`${cmd.name}: one ${cmd.positional} at most, got ${positionals.join(' ')}`);
  else if (positionals.length === 1) {
    if (values[cmd.positional!] !== undefined) throw new CliError(`${cmd.name}: ${cmd.positional} given twice`);
    values[cmd.positional!] = positionals[0];
  }
  if (help) {
    console.log(helpText(cmd));
    return 'help';
  }
  const parsed: Record<string, unknown> = { ...values };
  const defaulted = new Set<string>();
  const text: Record<string, string | string[]> = {};
  for (const [k, f] of Object.entries(all)) {
    if (values[k] === undefined && f.default !== undefined) {
      values[k] = f.default;
      defaulted.add(k);
    }
    const v = values[k];
    if (f.type === 'boolean' || v === undefined) {
      parsed[k] = v;
      continue;
    }
    const given = (text[k] = v as string | string[]);
    parsed[k] = !f.parse ? given : Array.isArray(given) ? given.map((x) => parseFlag(f, x)) : parseFlag(f, given);
  }
  DEFAULTED.set(parsed, defaulted);
  TEXT.set(parsed, text);
  cmd.check?.(parsed as never);
  return parsed as Flags;
}

/** A value through its flag's parser; the parser's error is a usage error (reported before any work). */
function parseFlag(f: Flag, v: string): unknown {
  try {
    return f.parse!(v);
  } catch (e) {
    throw e instanceof CliError ? e : new CliError((e as Error).message);
  }
}
