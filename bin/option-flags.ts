// Command-line flags derived from the typed options of a registry's descriptors (training methods, attacks): one
// flag per option name across them (the same name has the same kind everywhere), its help listing each
// descriptor's meaning and default, and each value refused before any work unless some descriptor takes it.
import {
  flagName,
  formatDefault,
  OptionError,
  parseOption,
  type OptionSpec,
  type OptionSpecs,
  type OptionValue,
} from '../adversarial/options.js';
import { CliError, flagValue, type Flag } from './args.js';

/** A descriptor with options: a method or an attack. */
export interface OptionOwner {
  name: string;
  options: OptionSpecs;
}

/** flag → its option key and, per descriptor that declares it, the declaration. */
export type OptionIndex = Map<string, { key: string; uses: [string, OptionSpec][] }>;

export function optionIndex(owners: readonly OptionOwner[]): OptionIndex {
  const index: OptionIndex = new Map();
  for (const d of owners) {
    for (const [key, spec] of Object.entries(d.options)) {
      const flag = flagName(key);
      const entry = index.get(flag) ?? { key, uses: [] };
      const other = entry.uses[0]?.[1];
      if (other && other.kind !== spec.kind)
        throw new Error(`advfree: option '${key}' is a ${spec.kind} in ${d.name} but a ${other.kind} elsewhere`);
      entry.uses.push([d.name, spec]);
      index.set(flag, entry);
    }
  }
  return index;
}

/** 'free, pgd: L-inf radius ... (default 8/255); atta: ...': descriptors sharing a meaning and default are listed once. */
function helpOf(uses: [string, OptionSpec][]): string {
  const groups = new Map<string, string[]>();
  for (const [m, s] of uses) {
    const text = `${s.help} (default ${formatDefault(s)})`;
    groups.set(text, [...(groups.get(text) ?? []), m]);
  }
  return [...groups].map(([text, ms]) => `${ms.join(', ')}: ${text}`).join('; ');
}

/**
 * The flags of an index, without defaults (each descriptor fills its own). A value stays the string it was given:
 * its meaning is the chosen descriptor's (givenOptions parses it by that declaration).
 */
export function optionFlags(index: OptionIndex): Record<string, Flag<string>> {
  return Object.fromEntries(
    [...index].map(([flag, { key, uses }]) => [
      flag,
      {
        type: uses[0][1].kind === 'flag' ? 'boolean' : 'string',
        help: helpOf(uses),
        // Refused before any work unless some descriptor takes the value.
        parse: (v: string) => {
          const errors: string[] = [];
          for (const [, s] of uses) {
            try {
              parseOption(key, s, v);
              return v;
            } catch (e) {
              errors.push((e as Error).message);
            }
          }
          throw new CliError(errors[0]);
        },
      } satisfies Flag<string>,
    ]),
  );
}

/** The index's flags given on the command line. */
export const givenOptionFlags = (index: OptionIndex, flags: object): string[] =>
  [...index.keys()].filter((f) => flagValue(flags, f) !== undefined);

/** The options given as flags that `owner` declares, parsed by its declarations; flags of options it lacks are in `foreign`. */
export function givenOptions(
  index: OptionIndex,
  flags: object,
  owner: OptionOwner,
): { given: Record<string, OptionValue>; foreign: string[] } {
  const given: Record<string, OptionValue> = {};
  const foreign: string[] = [];
  for (const flag of givenOptionFlags(index, flags)) {
    const { key, uses } = index.get(flag)!;
    const spec = uses.find(([m]) => m === owner.name)?.[1];
    if (!spec) {
      foreign.push(flag);
      continue;
    }
    const v = flagValue(flags, flag);
    try {
      given[key] = typeof v === 'boolean' ? v : parseOption(key, spec, v as string);
    } catch (e) {
      throw e instanceof OptionError ? new CliError(e.message) : e;
    }
  }
  return { given, foreign };
}

/** '--steps, --step-size' or 'none'. */
export const ownFlags = (owner: OptionOwner): string =>
  Object.keys(owner.options)
    .map((k) => `--${flagName(k)}`)
    .join(', ') || 'none';
