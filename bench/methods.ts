// The training methods the cost bench can run, by the registry's short forms (natural, free-8, pgd-7, ...), plus
// the bench's ablation suffix '-full' (pgd-7-full, fgsm-rs-full) for methods with a fullAttackBackward option:
// their attack steps also compute every weight gradient.
import {
  createMethod,
  declaredCost,
  METHODS,
  parseShortForm,
  resolveMethod,
  shortPattern,
  type ResolvedMethod,
} from '../adversarial/registry.js';
import type { Method, MethodEnv } from '../adversarial/method.js';
import { IMAGE_THREAT, type ThreatSpec } from '../adversarial/threat.js';

export const METHOD_FORMS = `${METHODS.map(shortPattern).join(', ')}; -full after a method with attack steps (pgd-K-full)`;

/** A bench method name resolved through the registry under `threat` (the bench's eps); throws naming the accepted forms. */
export function benchMethod(name: string, threat: ThreatSpec = IMAGE_THREAT): ResolvedMethod {
  const full = /-full$/.test(name);
  const r = parseShortForm(full ? name.slice(0, -5) : name, threat);
  if (full && !('fullAttackBackward' in r.descriptor.options))
    throw new Error(
      `method '${name}': ${r.descriptor.name} has no attack steps (use pgd-K-full, fgsm-rs-full) to run with full backward passes`,
    );
  return full ? resolveMethod({ ...r.config, fullAttackBackward: true }, threat) : r;
}

export const checkMethodName = (name: string): void => void benchMethod(name);

export const makeBenchMethod = (r: ResolvedMethod, env: MethodEnv): Method => createMethod(r, env);

/** Attack steps per SGD step: the input-only backward passes a method declares (pgd-K: K), else 0. */
export function attackSteps(name: string): number {
  const r = benchMethod(name.replace(/-full$/, ''));
  return declaredCost(r).backwardInputOnly;
}
