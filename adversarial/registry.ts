// The training methods: every descriptor in adversarial/methods/ (listed by scripts/gen-registries.mjs at build time),
// plus any a library user registers. Command-line flags, bench and experiment short forms, checkpoint metadata
// and help are all derived from this list, so a new method is one file and its test.
import type { Method, MethodConfig, MethodDescriptor, MethodEnv, PassCounts } from './method.js';
import { DESCRIPTORS } from './methods/index.js';
import { formatOption, OptionError, resolveOptions, type OptionsOf, type OptionSpecs, type OptionValue } from './options.js';

/** Natural training first (the baseline every ratio needs), then by name. */
export const METHODS: MethodDescriptor[] = [...DESCRIPTORS].sort((a, b) => (a.name === 'natural' ? -1 : b.name === 'natural' ? 1 : a.name.localeCompare(b.name)));

/** Adds a method defined outside this package (a library user's one file); its name must be new. */
export function registerMethod<S extends OptionSpecs>(descriptor: MethodDescriptor<S>): void {
  const d = descriptor as unknown as MethodDescriptor;
  if (METHODS.some((m) => m.name === d.name)) throw new OptionError(`a training method named '${d.name}' is already registered`);
  if (!/^[a-z][a-z-]*[a-z]$|^[a-z]$/.test(d.name)) throw new OptionError(`method name '${d.name}' must be lower-case letters and inner dashes (its short form appends -NUMBERS)`);
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

/** Checks a recorded or given configuration {name, ...options}, filling defaults. */
export function resolveMethod(config: { name: string } & Record<string, unknown>): ResolvedMethod {
  if (typeof config?.name !== 'string') throw new OptionError(`a method configuration needs a name, got ${JSON.stringify(config)}`);
  const { name, ...given } = config;
  const descriptor = findMethod(name);
  const options = resolveOptions(name, descriptor.options, given);
  return { descriptor, options, config: { name, ...options } };
}

const SHORT = /^([a-z][a-z-]*?)((?:-\d+)*)$/;

/** 'free-8', 'pgd-7', 'yopo-5-3', 'natural': the name, then the descriptor's positional options. */
export function parseShortForm(text: string): ResolvedMethod {
  const m = SHORT.exec(text.trim());
  const forms = METHODS.map(shortPattern).join(', ');
  if (!m) throw new OptionError(`method '${text}': expected one of ${forms}`);
  const descriptor = METHODS.find((d) => d.name === m[1]);
  const values = m[2] ? m[2].slice(1).split('-').map(Number) : [];
  if (!descriptor || values.length > descriptor.short.length) throw new OptionError(`method '${text}': expected one of ${forms}`);
  try {
    return resolveMethod({ name: descriptor.name, ...Object.fromEntries(values.map((v, i) => [descriptor.short[i], v])) });
  } catch (e) {
    throw e instanceof OptionError ? new OptionError(`method '${text}': ${e.message}`) : e;
  }
}

/** 'free-M' for help. */
export const shortPattern = (d: MethodDescriptor): string => [d.name, ...d.short.map((k, i) => d.shortLetters?.[i] ?? k[0].toUpperCase())].join('-');

/** The short form of a configuration: free-8. Options outside the short form are not shown (see describeMethod). */
export function shortForm(r: ResolvedMethod): string {
  return [r.descriptor.name, ...r.descriptor.short.map((k) => String(r.options[k]))].join('-');
}

/** 'free (replays 4, eps 8/255)': a configuration as people write it. */
export function describeMethod(r: ResolvedMethod): string {
  const specs = r.descriptor.options;
  const opts = Object.entries(r.options).filter(([k]) => !(specs[k].kind === 'flag' && r.options[k] === false))
    .map(([k, v]) => `${k} ${formatOption(specs[k], v)}`);
  return opts.length ? `${r.descriptor.name} (${opts.join(', ')})` : r.descriptor.name;
}

/** Declared passes per minibatch. */
export const declaredCost = (r: ResolvedMethod): PassCounts => r.descriptor.cost(r.options as OptionsOf<OptionSpecs>);

/** SGD steps per minibatch: free-m replays each minibatch m times, so its natural-equivalent epochs are divided by m. */
export const sgdStepsPerBatch = (r: ResolvedMethod): number => declaredCost(r).sgdSteps;

export const createMethod = (r: ResolvedMethod, env: MethodEnv): Method => r.descriptor.create(r.options as OptionsOf<OptionSpecs>, env);

/** A checkpoint's recorded method (JSON metadata) described; never throws, since reports must survive bad metadata. */
export function describeRecorded(text: string | undefined): string {
  if (text === undefined) return 'unrecorded method';
  try {
    return describeMethod(resolveMethod(JSON.parse(text)));
  } catch (e) {
    return `unreadable method metadata ${JSON.stringify(text).slice(0, 80)} (${(e as Error).message})`;
  }
}
