// The training methods: every descriptor in adversarial/methods/ (listed by scripts/gen-registries.mjs at build time),
// plus any a library user registers. Command-line flags, bench and experiment short forms, checkpoint metadata
// and help are all derived from this list, so a new method is one file and its test.
import type { Method, MethodConfig, MethodDescriptor, MethodEnv, PassCounts } from './method.js';
import { DESCRIPTORS } from './methods/index.js';
import {
  formatOption,
  OptionError,
  resolveOptions,
  type OptionsOf,
  type OptionSpecs,
  type OptionValue,
} from './options.js';
import { describeThreat, IMAGE_THREAT, NORMS, type Norm, type ThreatSpec } from './threat.js';

/** Natural training first (the baseline every ratio needs), then by name. */
export const METHODS: MethodDescriptor[] = [...DESCRIPTORS].sort((a, b) =>
  a.name === 'natural' ? -1 : b.name === 'natural' ? 1 : a.name.localeCompare(b.name),
);

/** Adds a method defined outside this package (a library user's one file); its name must be new. */
export function registerMethod<S extends OptionSpecs>(descriptor: MethodDescriptor<S>): void {
  const d = descriptor as unknown as MethodDescriptor;
  if (METHODS.some((m) => m.name === d.name))
    throw new OptionError(`a training method named '${d.name}' is already registered`);
  if (!/^[a-z][a-z-]*[a-z]$|^[a-z]$/.test(d.name))
    throw new OptionError(
      `method name '${d.name}' must be lower-case letters and inner dashes (its short form appends -NUMBERS)`,
    );
  METHODS.push(d);
}

export function findMethod(name: string): MethodDescriptor {
  const d = METHODS.find((m) => m.name === name);
  if (!d) throw new OptionError(`unknown training method '${name}'; methods: ${METHODS.map((m) => m.name).join(', ')}`);
  return d;
}

/** A method and its full, checked options. */
export interface ResolvedMethod {
  descriptor: MethodDescriptor;
  options: Record<string, OptionValue>;
  config: MethodConfig;
}

/** The norms a method's perturbations support. */
export const methodNorms = (d: MethodDescriptor): readonly Norm[] => d.norms ?? ['linf'];

/**
 * Checks a recorded or given configuration {name, ...options} for a run under `threat` (default: CIFAR's L-inf
 * 8/255), filling defaults (step sizes may follow eps); a method that does not support the threat's norm is refused.
 */
export function resolveMethod(
  config: { name: string } & Record<string, unknown>,
  threat: ThreatSpec = IMAGE_THREAT,
): ResolvedMethod {
  if (typeof config?.name !== 'string')
    throw new OptionError(`a method configuration needs a name, got ${JSON.stringify(config)}`);
  const { name, ...given } = config;
  const descriptor = findMethod(name);
  const norms = methodNorms(descriptor);
  if (!norms.includes(threat.norm)) {
    throw new OptionError(`method ${name} supports --norm ${norms.join(' or ')} only, got --norm ${threat.norm}`);
  }
  const options = resolveOptions(`method ${name}`, descriptor.options, given, threat);
  return { descriptor, options, config: { name, ...options } };
}

/**
 * A method configuration as runs recorded it before the threat model was the run's: eps among the method's
 * options. Returns the configuration without it and that L-inf threat (null where the record has no eps).
 */
export function splitLegacyEps(config: { name: string } & Record<string, unknown>): {
  method: { name: string } & Record<string, unknown>;
  threat: ThreatSpec | null;
} {
  const { eps, ...method } = config;
  return typeof eps === 'number' ? { method, threat: { norm: 'linf', eps } } : { method: config, threat: null };
}

const SHORT = /^([a-z][a-z-]*?)((?:-\d+)*)$/;

/** 'free-8', 'pgd-7', 'yopo-5-3', 'natural': the name, then the descriptor's positional options (for a run under `threat`). */
export function parseShortForm(text: string, threat: ThreatSpec = IMAGE_THREAT): ResolvedMethod {
  const m = SHORT.exec(text.trim());
  const forms = METHODS.map(shortPattern).join(', ');
  if (!m) throw new OptionError(`method '${text}': expected one of ${forms}`);
  const descriptor = METHODS.find((d) => d.name === m[1]);
  const values = m[2] ? m[2].slice(1).split('-').map(Number) : [];
  if (!descriptor || values.length > descriptor.short.length)
    throw new OptionError(`method '${text}': expected one of ${forms}`);
  try {
    return resolveMethod(
      { name: descriptor.name, ...Object.fromEntries(values.map((v, i) => [descriptor.short[i], v])) },
      threat,
    );
  } catch (e) {
    throw e instanceof OptionError ? new OptionError(`method '${text}': ${e.message}`) : e;
  }
}

/** 'free-M' for help. */
export const shortPattern = (d: MethodDescriptor): string =>
  [d.name, ...d.short.map((k, i) => d.shortLetters?.[i] ?? k[0].toUpperCase())].join('-');

/** The short form of a configuration: free-8. Options outside the short form are not shown (see describeMethod). */
export function shortForm(r: ResolvedMethod): string {
  return [r.descriptor.name, ...r.descriptor.short.map((k) => String(r.options[k]))].join('-');
}

/** 'free (replays 4, eps 8/255)': a configuration as people write it. */
export function describeMethod(r: ResolvedMethod): string {
  const specs = r.descriptor.options;
  const opts = Object.entries(r.options)
    .filter(([k]) => !(specs[k].kind === 'flag' && r.options[k] === false))
    .map(([k, v]) => `${k} ${formatOption(specs[k], v)}`);
  return opts.length ? `${r.descriptor.name} (${opts.join(', ')})` : r.descriptor.name;
}

/** Declared passes per minibatch. */
export const declaredCost = (r: ResolvedMethod): PassCounts => r.descriptor.cost(r.options as OptionsOf<OptionSpecs>);

/** SGD steps per minibatch: free-m replays each minibatch m times, so its natural-equivalent epochs are divided by m. */
export const sgdStepsPerBatch = (r: ResolvedMethod): number => declaredCost(r).sgdSteps;

/** The method, built with its threat model's box and mask uploaded (state allocated at creation, not in a step). */
export function createMethod(r: ResolvedMethod, env: MethodEnv): Method {
  const norms = methodNorms(r.descriptor);
  if (!norms.includes(env.threat.norm))
    throw new OptionError(
      `method ${r.descriptor.name} supports --norm ${norms.join(' or ')} only, got the ${env.threat.norm} threat model`,
    );
  env.threat.upload();
  return r.descriptor.create(r.options as OptionsOf<OptionSpecs>, env);
}

/** A recorded threat model ({norm, eps}), checked; throws OptionError naming what is wrong. */
export function parseThreatSpec(v: unknown): ThreatSpec {
  const t = v as ThreatSpec;
  if (!(t && (NORMS as readonly unknown[]).includes(t.norm) && typeof t.eps === 'number' && t.eps >= 0)) {
    throw new OptionError(
      `a threat model is {"norm": ${NORMS.map((n) => `"${n}"`).join(' or ')}, "eps": a number >= 0}, got ${JSON.stringify(v)}`,
    );
  }
  return { norm: t.norm, eps: t.eps };
}

/**
 * A checkpoint's recorded method and threat model (JSON metadata) described, 'free (replays 8) at eps 8/255'
 * (older checkpoints record eps among the method's options); never throws, since reports must survive bad metadata.
 */
export function describeRecorded(text: string | undefined, threatText?: string): string {
  if (text === undefined) return 'unrecorded method';
  try {
    const { method, threat: legacy } = splitLegacyEps(JSON.parse(text));
    const threat = threatText === undefined ? legacy : parseThreatSpec(JSON.parse(threatText));
    return `${describeMethod(resolveMethod(method, threat ?? undefined))}${threat ? ` at ${describeThreat(threat)}` : ''}`;
  } catch (e) {
    return `unreadable method metadata ${JSON.stringify(text).slice(0, 80)} (${(e as Error).message})`;
  }
}
