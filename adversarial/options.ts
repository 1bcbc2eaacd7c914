// Typed options of methods and attacks: each declares its kind, default, range and help once; command-line flags,
// checkpoint round trips, help text and short forms are derived from these declarations.
import type { ThreatSpec } from './threat.js';
import { fmtPixels, parsePixels } from './units.js';

export type OptionValue = number | string | boolean;

interface Base<T> {
  help: string;
  /** A constant, or a function of the other options' resolved values and the threat model (e.g. FGSM-RS's step 1.25·eps). */
  default: T | ((o: Record<string, OptionValue>, threat: ThreatSpec) => T);
  /** How a computed default reads in help, e.g. '1.25·eps'. */
  defaultText?: string;
}

export interface IntOption extends Base<number> {
  kind: 'int';
  min: number;
  max: number;
}

/** A real number, or a size in [0,1] pixel units written '8/255' or '0.031' (kind 'pixels'). */
export interface NumberOption extends Base<number> {
  kind: 'number' | 'pixels';
  min: number;
  max: number;
  /** The minimum itself is refused (a step size of 0). */
  exclusiveMin?: boolean;
}

export interface ChoiceOption extends Base<string> {
  kind: 'choice';
  choices: readonly string[];
}

export interface FlagOption extends Base<boolean> {
  kind: 'flag';
}

export type OptionSpec = IntOption | NumberOption | ChoiceOption | FlagOption;
export type OptionSpecs = Record<string, OptionSpec>;

/** The resolved values of a method's options. */
export type OptionsOf<S extends OptionSpecs> = {
  [K in keyof S]: S[K] extends FlagOption ? boolean : S[K] extends ChoiceOption ? string : number;
};

/** A bad option value; `flag` is the option's command-line name, for the message. */
export class OptionError extends Error {}

/** camelCase option key to its kebab-case flag: stepSize → step-size. */
export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Pixel sizes as 8/255. */
const fmtValue = (s: OptionSpec, v: number): string => (s.kind === 'pixels' ? fmtPixels(v) : String(v));

const range = (s: IntOption | NumberOption): string => {
  const fmt = (v: number) => fmtValue(s, v);
  return `${s.kind === 'int' || !(s as NumberOption).exclusiveMin ? '[' : '('}${fmt(s.min)}, ${fmt(s.max)}]`;
};

/** Checks a typed value against its declaration; throws an OptionError naming the flag and the accepted range. */
export function checkOption(key: string, s: OptionSpec, v: unknown): OptionValue {
  const flag = `--${flagName(key)}`;
  switch (s.kind) {
    case 'flag':
      if (typeof v !== 'boolean') throw new OptionError(`${flag} is a flag (true or false), got ${JSON.stringify(v)}`);
      return v;
    case 'choice':
      if (typeof v !== 'string' || !s.choices.includes(v))
        throw new OptionError(`${flag} must be one of ${s.choices.join(', ')}, got ${JSON.stringify(v)}`);
      return v;
    default: {
      const n = v as number;
      const what = s.kind === 'int' ? 'an integer' : s.kind === 'pixels' ? 'a size' : 'a number';
      const ok =
        typeof n === 'number' &&
        Number.isFinite(n) &&
        (s.kind !== 'int' || Number.isInteger(n)) &&
        n <= s.max &&
        (s.kind !== 'int' && s.exclusiveMin ? n > s.min : n >= s.min);
      if (!ok)
        throw new OptionError(
          `${flag} must be ${what} in ${range(s)}, got ${typeof n === 'number' ? fmtValue(s, n) : JSON.stringify(v)}`,
        );
      return n;
    }
  }
}

/** Parses a command-line string for an option, then checks it. */
export function parseOption(key: string, s: OptionSpec, text: string): OptionValue {
  const flag = flagName(key);
  switch (s.kind) {
    case 'flag':
      return checkOption(key, s, text === 'true' || text === '' ? true : text === 'false' ? false : text);
    case 'choice':
      return checkOption(key, s, text);
    case 'pixels': {
      let v: number;
      try {
        v = parsePixels(flag, text);
      } catch (e) {
        throw new OptionError((e as Error).message);
      }
      return checkOption(key, s, v);
    }
    default: {
      const v = text.trim() === '' ? NaN : Number(text);
      if (Number.isNaN(v))
        throw new OptionError(
          `--${flag} must be ${s.kind === 'int' ? 'an integer' : 'a number'} in ${range(s)}, got '${text}'`,
        );
      return checkOption(key, s, v);
    }
  }
}

/**
 * The full option set from partial values: defaults fill the gaps (constant defaults first, so computed ones can
 * read them; computed ones also read the threat model), every value is checked, and keys the owner (e.g.
 * 'method free') does not declare are refused.
 */
export function resolveOptions(
  owner: string,
  specs: OptionSpecs,
  given: Record<string, unknown>,
  threat: ThreatSpec,
): Record<string, OptionValue> {
  for (const k of Object.keys(given)) {
    if (!Object.hasOwn(specs, k)) {
      const known =
        Object.keys(specs)
          .map((o) => `--${flagName(o)}`)
          .join(', ') || 'none';
      throw new OptionError(`${owner} has no option --${flagName(k)} (its options: ${known})`);
    }
  }
  const out: Record<string, OptionValue> = {};
  const entries = Object.entries(specs);
  for (const [k, s] of entries) {
    if (given[k] !== undefined) out[k] = checkOption(k, s, given[k]);
    else if (typeof s.default !== 'function') out[k] = s.default;
  }
  for (const [k, s] of entries) {
    if (out[k] === undefined && typeof s.default === 'function') out[k] = checkOption(k, s, s.default(out, threat));
  }
  return out;
}

/** A value as people write it: pixel sizes as 8/255. */
export function formatOption(s: OptionSpec, v: OptionValue): string {
  return typeof v === 'number' ? fmtValue(s, v) : String(v);
}

/** The default as help shows it. */
export function formatDefault(s: OptionSpec): string {
  return typeof s.default === 'function' ? (s.defaultText ?? 'computed') : formatOption(s, s.default);
}
