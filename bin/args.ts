// Flag parsing shared by the commands: declared flags with defaults and validation, checked before any work.
import { parseArgs } from 'node:util';

export class CliError extends Error {}

export interface Flag {
  type: 'string' | 'boolean';
  help: string;
  default?: string | boolean;
  short?: string;
  /** Validates (and may convert) a string value; throws CliError naming the valid range. */
  check?: (v: string) => void;
  /** The flag may be given more than once (its value is then the list); any other flag given twice is refused. */
  repeatable?: boolean;
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  name: string;
  summary: string;
  flags: Record<string, Flag>;
  /** A flag that may also be given as the one positional argument (`advfree data cifar10`). */
  positional?: string;
  /** The positional argument may repeat (`advfree plot RUN...`): its value is then the list, possibly empty. */
  variadic?: boolean;
  /** Checks flags together (e.g. --eps against --norm and --data) after each flag's own check; throws CliError. */
  check?: (flags: Flags) => void;
  run: (flags: Flags) => Promise<number>;
}

export const GLOBAL_FLAGS: Record<string, Flag> = {
  backend: { type: 'string', help: 'Dawn backend (vulkan, metal, d3d12)' },
  adapter: { type: 'string', help: 'adapter name substring' },
};

/** A flag check from a parser: the parser's error becomes a usage error (reported before any work). */
export function parsedBy(parse: (v: string) => unknown): (v: string) => void {
  return (v) => {
    try {
      parse(v);
    } catch (e) {
      throw e instanceof CliError ? e : new CliError((e as Error).message);
    }
  };
}

/** The check of a flag naming one of `choices`. */
export function oneOf(name: string, choices: readonly string[]): (v: string) => void {
  return (v) => {
    if (!choices.includes(v)) throw new CliError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`);
  };
}

export function intFlag(name: string, lo: number, hi = Number.MAX_SAFE_INTEGER): (v: string) => void {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new CliError(`--${name} must be an integer in [${lo}, ${hi}], got '${v}'`);
  };
}

export function numFlag(name: string, lo: number, hi: number): (v: string) => void {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new CliError(`--${name} must be a number in [${lo}, ${hi}], got '${v}'`);
  };
}

export function helpText(cmd: Command): string {
  const rows = Object.entries({ ...cmd.flags, ...GLOBAL_FLAGS }).map(([k, f]) => {
    const left = `  --${k}${f.type === 'string' ? ' VALUE' : ''}`;
    const def = f.default !== undefined ? ` (default: ${f.default})` : '';
    return `${left.padEnd(30)}${f.help}${def}${f.repeatable ? ' (may be given more than once)' : ''}`;
  });
  return `advfree ${cmd.name}: ${cmd.summary}\n\nFlags:\n${rows.join('\n')}\n  -h, --help                  this help`;
}

/** The flags of each parsed set that came from defaults, not from the command line. */
const DEFAULTED = new WeakMap<Flags, ReadonlySet<string>>();

/** The flags given on the command line of a set parseCommand returned (defaults left out). */
export function givenFlags(flags: Flags): Set<string> {
  const defaulted = DEFAULTED.get(flags) ?? new Set();
  return new Set(Object.keys(flags).filter((k) => flags[k] !== undefined && !defaulted.has(k)));
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
    if (name && options[name]?.type === 'string' && /^-\.?\d/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

/** Parses and validates a command's flags; returns 'help' after printing help. */
export function parseCommand(cmd: Command, argv: string[]): Flags | 'help' {
  const all = { ...cmd.flags, ...GLOBAL_FLAGS };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  // Every flag is parsed as repeatable, so that a repeat is seen (parseArgs would keep the last value silently).
  for (const [k, f] of Object.entries(all)) options[k] = { type: f.type, multiple: true, ...(f.short ? { short: f.short } : {}) };
  let values: Flags;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: joinNegatives(argv, options), options, strict: true, allowPositionals: !!cmd.positional }) as { values: Flags; positionals: string[] });
  } catch (e) {
    throw new CliError(`${cmd.name}: ${(e as Error).message}`);
  }
  for (const [k, v] of Object.entries(values)) {
    if (!Array.isArray(v) || k === 'help' || all[k].repeatable) continue;
    if (v.length > 1) {
      const given = all[k].type === 'boolean' ? `${v.length} times` : `${v.length} times (${v.map((x) => `'${x}'`).join(', then ')})`;
      throw new CliError(`${cmd.name}: --${k} given ${given}; give it once`);
    }
    values[k] = v[0];
  }
  if (Array.isArray(values.help)) values.help = values.help.some(Boolean);
  if (cmd.variadic) values[cmd.positional!] = positionals;
  else if (positionals.length > 1) throw new CliError(`${cmd.name}: one ${cmd.positional} at most, got ${positionals.join(' ')}`);
  else if (positionals.length === 1) {
    if (values[cmd.positional!] !== undefined) throw new CliError(`${cmd.name}: ${cmd.positional} given twice`);
    values[cmd.positional!] = positionals[0];
  }
  if (values.help) {
    console.log(helpText(cmd));
    return 'help';
  }
  const defaulted = new Set<string>();
  DEFAULTED.set(values, defaulted);
  for (const [k, f] of Object.entries(all)) {
    if (values[k] === undefined && f.default !== undefined) {
      values[k] = f.default;
      defaulted.add(k);
    }
    const v = values[k];
    if (f.check && (typeof v === 'string' || Array.isArray(v))) for (const x of [v].flat()) f.check(x);
  }
  cmd.check?.(values);
  return values;
}
