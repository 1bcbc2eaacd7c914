// The attacks: every descriptor in adversarial/attacks/ (listed by scripts/gen-registries.mjs at build time), plus
// any a library user registers. `eval`'s flags, its help and the report's descriptions are derived from this list,
// so a new attack is one file and its test.
import type { AttackConfig, AttackDescriptor, AttackEnv, AttackSetting } from './attack.js';
import { DESCRIPTORS } from './attacks/descriptors.js';
import { runStages } from './attacks/stages.js';
import type { Attack } from './attacks/types.js';
import { OptionError, resolveOptions, type OptionsOf, type OptionSpecs, type OptionValue } from './options.js';
import { describeThreat, IMAGE_THREAT, type ThreatSpec } from './threat.js';

const isSuite = (d: AttackDescriptor): boolean => d.stages !== undefined;

/** Single attacks first, then the suites, each by name. */
export const ATTACKS: AttackDescriptor[] = [...DESCRIPTORS].sort(
  (a, b) => Number(isSuite(a)) - Number(isSuite(b)) || a.name.localeCompare(b.name),
);

/** Adds an attack defined outside this package; its name must be new. */
export function registerAttack<S extends OptionSpecs>(descriptor: AttackDescriptor<S>): void {
  const d = descriptor as unknown as AttackDescriptor;
  if (ATTACKS.some((a) => a.name === d.name))
    throw new OptionError(`an attack named '${d.name}' is already registered`);
  if (!/^[a-z][a-z0-9-]*$/.test(d.name))
    throw new OptionError(`attack name '${d.name}' must be lower-case letters, digits and dashes`);
  if (!d.create === !d.stages)
    throw new OptionError(
      `attack '${d.name}' must declare create (an attack) or stages (a suite), not ${d.create ? 'both' : 'neither'}`,
    );
  ATTACKS.push(d);
}

export function findAttack(name: string): AttackDescriptor {
  const d = ATTACKS.find((a) => a.name === name);
  if (!d) throw new OptionError(`unknown attack '${name}'; attacks: ${ATTACKS.map((a) => a.name).join(', ')}`);
  return d;
}

/** An attack and its full, checked options. */
export interface ResolvedAttack {
  descriptor: AttackDescriptor;
  options: Record<string, OptionValue>;
  config: AttackConfig;
}

/** Checks a given or recorded configuration {name, ...options} under `threat` (step sizes may follow its eps), filling defaults. */
export function resolveAttack(
  config: { name: string } & Record<string, unknown>,
  threat: ThreatSpec = IMAGE_THREAT,
): ResolvedAttack {
  if (typeof config?.name !== 'string')
    throw new OptionError(`an attack configuration needs a name, got ${JSON.stringify(config)}`);
  const { name, ...given } = config;
  const descriptor = findAttack(name);
  const options = resolveOptions(`attack ${name}`, descriptor.options, given, threat);
  return { descriptor, options, config: { name, ...options } };
}

const typed = (r: ResolvedAttack) => r.options as OptionsOf<OptionSpecs>;

/** Why the attack cannot run in `setting`, or null. */
export const unsupported = (r: ResolvedAttack, setting: AttackSetting): string | null =>
  r.descriptor.unsupported?.(setting) ?? null;

/** The examples an evaluation runs it on: the first `limit` (null: all). */
export const attackLimit = (r: ResolvedAttack): number | null => r.descriptor.limit?.(typed(r)) ?? null;

/** A suite's stages resolved, each with the reason it is skipped in `setting` (null: it runs); [] for an attack. */
export function suiteStages(
  r: ResolvedAttack,
  setting: AttackSetting,
): { stage: ResolvedAttack; skipped: string | null }[] {
  return (r.descriptor.stages?.(typed(r), setting) ?? []).map((s) => {
    const stage = resolveAttack({ name: s.name, ...s.options }, setting.threat);
    return { stage, skipped: unsupported(stage, setting) };
  });
}

/** A short name for a table's column: 'PGD-50x10' (its restarts when more than one), 'APGD-CE', 'Square'. */
export function attackTitle(r: ResolvedAttack, setting: AttackSetting): string {
  const { title } = r.descriptor.describe(typed(r), setting, []);
  const restarts = Number(r.options.restarts ?? 1);
  return restarts > 1 ? `${title}x${restarts}` : title;
}

/**
 * 'PGD-20 (eps 8/255, step 2/255, 1 restart, ce loss)', 'AutoAttack, standard (eps 8/255: APGD-CE, APGD-T, FAB-T,
 * Square 5000 queries)'; a suite names the stages it skips here and why.
 */
export function describeAttack(r: ResolvedAttack, setting: AttackSetting): string {
  const stages = suiteStages(r, setting);
  const { title, details } = r.descriptor.describe(
    typed(r),
    setting,
    stages.filter((s) => !s.skipped).map((s) => s.stage.descriptor.name),
  );
  const limit = attackLimit(r);
  const sub = limit !== null ? `, first ${limit} examples` : '';
  const threat = describeThreat(setting.threat);
  const skipped = stages
    .filter((s) => s.skipped)
    .map((s) => `; ${s.stage.descriptor.name} skipped: ${s.skipped}`)
    .join('');
  return isSuite(r.descriptor)
    ? `${title} (${threat}: ${details.join(', ')}${sub})${skipped}`
    : `${title} (${[threat, ...details].join(', ')}${sub})`;
}

/** The attack's function: a suite runs its stages that apply in `setting`, each on the survivors of the previous. */
export function createAttack(r: ResolvedAttack, env: AttackEnv, setting: AttackSetting): Attack {
  const why = unsupported(r, setting);
  if (why) throw new OptionError(`attack ${r.descriptor.name} cannot run here: ${why}`);
  if (r.descriptor.create) return r.descriptor.create(typed(r), env);
  const stages = suiteStages(r, setting)
    .filter((s) => !s.skipped)
    .map((s) => ({ name: s.stage.descriptor.name, attack: createAttack(s.stage, env, setting) }));
  return (f, x, y) => runStages(f, x, y, stages);
}
