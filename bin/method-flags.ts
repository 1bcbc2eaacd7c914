// `train`'s method flags, derived from the registry: one flag per option name across all methods (the same name
// has the same kind everywhere), help listing each method's meaning and default, and the chosen method's options
// read from the flags given. A flag the chosen method does not take is refused, naming its options.
import { METHODS, resolveMethod, type ResolvedMethod } from '../adversarial/registry.js';
import { flagName, formatDefault, formatOption, OptionError, parseOption, type OptionSpec, type OptionValue } from '../adversarial/options.js';
import type { MethodConfig } from '../adversarial/method.js';
import { CliError, oneOf, type Flag, type Flags } from './args.js';

function optionIndex(): Map<string, { key: string; uses: [string, OptionSpec][] }> {
  const index = new Map<string, { key: string; uses: [string, OptionSpec][] }>();
  for (const d of METHODS) {
    for (const [key, spec] of Object.entries(d.options)) {
      const flag = flagName(key);
      const entry = index.get(flag) ?? { key, uses: [] };
      const other = entry.uses[0]?.[1];
      if (other && other.kind !== spec.kind) throw new Error(`advfree: option '${key}' is a ${spec.kind} in ${d.name} but a ${other.kind} elsewhere`);
      entry.uses.push([d.name, spec]);
      index.set(flag, entry);
    }
  }
  return index;
}

/** 'free, pgd: L-inf radius ... (default 8/255); atta: ...': methods sharing a meaning and default are listed once. */
function helpOf(uses: [string, OptionSpec][]): string {
  const groups = new Map<string, string[]>();
  for (const [m, s] of uses) {
    const text = `${s.help} (default ${formatDefault(s)})`;
    groups.set(text, [...(groups.get(text) ?? []), m]);
  }
  return [...groups].map(([text, ms]) => `${ms.join(', ')}: ${text}`).join('; ');
}

const INDEX = optionIndex();
const keyOf = (flag: string): string => INDEX.get(flag)!.key;

export const METHOD_FLAGS: Record<string, Flag> = {
  method: { type: 'string', help: `training method: ${METHODS.map((m) => m.name).join(', ')}`, default: 'natural', check: oneOf('method', METHODS.map((m) => m.name)) },
  ...Object.fromEntries(
    [...INDEX].map(([flag, { uses }]) => [
      flag,
      {
        type: uses[0][1].kind === 'flag' ? 'boolean' : 'string',
        help: helpOf(uses),
        // Refused before any work unless some method takes the value; the chosen method re-checks it.
        check: (v: string) => {
          const errors: string[] = [];
          for (const [, s] of uses) {
            try {
              parseOption(keyOf(flag), s, v);
              return;
            } catch (e) {
              errors.push((e as Error).message);
            }
          }
          throw new CliError(errors[0]);
        },
      } satisfies Flag,
    ]),
  ),
};

/** The method chosen by `--method` with the options given as flags, checked by its descriptor. */
export function methodFromFlags(flags: Flags): ResolvedMethod {
  const name = flags.method as string;
  const given: Record<string, unknown> = {};
  for (const [flag, { key, uses }] of INDEX) {
    const v = flags[flag];
    if (v === undefined) continue;
    const spec = uses.find(([m]) => m === name)?.[1];
    if (!spec) {
      const own = Object.keys(METHODS.find((m) => m.name === name)!.options).map((k) => `--${flagName(k)}`);
      throw new CliError(`--${flag} is not an option of method ${name} (its options: ${own.join(', ') || 'none'})`);
    }
    try {
      given[key] = typeof v === 'boolean' ? v : parseOption(key, spec, v as string);
    } catch (e) {
      throw e instanceof OptionError ? new CliError(e.message) : e;
    }
  }
  try {
    return resolveMethod({ name, ...given });
  } catch (e) {
    throw e instanceof OptionError ? new CliError(e.message) : e;
  }
}

/**
 * On resume: the method flags given that differ from the saved method, each as '--flag given (saved: value)'.
 * An option of another method is refused as for a new run.
 */
export function methodConflicts(flags: Flags, given: ReadonlySet<string>, saved: MethodConfig): string[] {
  if (given.has('method') && flags.method !== saved.name) return [`--method ${flags.method} (saved: ${saved.name})`];
  const options = [...INDEX].filter(([flag]) => given.has(flag));
  if (options.length === 0) return [];
  let resolved: ResolvedMethod;
  try {
    resolved = methodFromFlags({ ...flags, method: saved.name });
  } catch (e) {
    if (e instanceof CliError) return [e.message];
    throw e;
  }
  const { config, descriptor } = resolved;
  return options
    .filter(([, { key }]) => config[key] !== saved[key])
    .map(([flag, { key }]) => {
      const spec = descriptor.options[key];
      return `--${flag}${typeof flags[flag] === 'boolean' ? '' : ` ${flags[flag]}`} (saved: ${formatOption(spec, saved[key] as OptionValue)})`;
    });
}
