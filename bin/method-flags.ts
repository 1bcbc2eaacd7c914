// `train`'s method flags, derived from the registry (bin/option-flags.ts): one flag per option name across all
// methods, help listing each method's meaning and default, and the chosen method's options read from the flags
// given, under the threat model of --norm and --eps. A flag the chosen method does not take is refused, naming its
// options.
import { METHODS, resolveMethod, type ResolvedMethod } from '../adversarial/registry.js';
import { formatOption, OptionError, type OptionValue } from '../adversarial/options.js';
import type { MethodConfig } from '../adversarial/method.js';
import type { ThreatSpec } from '../adversarial/threat.js';
import { fmtPixels } from '../adversarial/units.js';
import { CliError, flagText, flagValue, oneOf, type FlagSet, type Values } from './args.js';
import { givenOptionFlags, givenOptions, optionFlags, optionIndex, ownFlags } from './option-flags.js';
import { THREAT_FLAGS, threatFromFlags, type ThreatFlags } from './threat-flags.js';

const INDEX = optionIndex(METHODS);

export const METHOD_FLAGS = {
  method: {
    type: 'string',
    help: `training method: ${METHODS.map((m) => m.name).join(', ')}`,
    default: 'natural',
    parse: oneOf(
      'method',
      METHODS.map((m) => m.name),
    ),
  },
  ...THREAT_FLAGS,
  ...optionFlags(INDEX),
} satisfies FlagSet;

/** What methodFromFlags reads: --method, the threat model's flags and the method options' flags. */
export type MethodFlags = Pick<Values<typeof METHOD_FLAGS>, 'method'> & ThreatFlags;

/** The method chosen by `--method` with the options given as flags, checked by its descriptor under the flags' threat model. */
export function methodFromFlags(flags: MethodFlags): ResolvedMethod {
  const name = flags.method;
  const d = METHODS.find((m) => m.name === name)!;
  const { given, foreign } = givenOptions(INDEX, flags, d);
  if (foreign.length)
    throw new CliError(`--${foreign[0]} is not an option of method ${name} (its options: ${ownFlags(d)})`);
  try {
    return resolveMethod({ name, ...given }, threatFromFlags(flags));
  } catch (e) {
    throw e instanceof OptionError ? new CliError(e.message) : e;
  }
}

/**
 * On resume: the threat and method flags given that differ from the saved run, each as '--flag given (saved:
 * value)'. An option of another method is refused as for a new run.
 */
export function methodConflicts(
  flags: MethodFlags,
  given: ReadonlySet<string>,
  saved: MethodConfig,
  savedThreat: ThreatSpec,
): string[] {
  if (given.has('method') && flags.method !== saved.name) return [`--method ${flags.method} (saved: ${saved.name})`];
  const threat = threatFromFlags(flags);
  const out = (['norm', 'eps'] as const)
    .filter((f) => given.has(f) && threat[f] !== savedThreat[f])
    .map((f) => `--${f} ${flagText(flags, f)} (saved: ${f === 'eps' ? fmtPixels(savedThreat.eps) : savedThreat.norm})`);
  const options = givenOptionFlags(INDEX, flags).filter((flag) => given.has(flag));
  if (options.length === 0) return out;
  let resolved: ResolvedMethod;
  try {
    resolved = methodFromFlags({ ...flags, method: saved.name, norm: savedThreat.norm, eps: savedThreat.eps });
  } catch (e) {
    if (e instanceof CliError) return [...out, e.message];
    throw e;
  }
  const { config, descriptor } = resolved;
  return [
    ...out,
    ...options
      .map((flag) => [flag, INDEX.get(flag)!.key] as const)
      .filter(([, key]) => config[key] !== saved[key])
      .map(
        ([flag, key]) =>
          `--${flag}${typeof flagValue(flags, flag) === 'boolean' ? '' : ` ${flagValue(flags, flag)}`} (saved: ${formatOption(descriptor.options[key], saved[key] as OptionValue)})`,
      ),
  ];
}
