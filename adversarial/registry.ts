// The training methods by name: their CLI flags, the configuration recorded in a run, and construction.
import type { Flag, Flags } from '../bin/args.js';
import { CliError, intFlag, oneOf, parsedBy } from '../bin/args.js';
import type { RunConfig } from '../nn/trainer.js';
import { Free } from './free.js';
import type { Method } from './method.js';
import { Natural } from './natural.js';
import { fmtPixels, parsePixels } from './units.js';
import { AttackTraining, type AttackBn } from './pgd-train.js';

export const METHODS = ['natural', 'free', 'pgd', 'fgsm-rs'] as const;

const pixels = (flag: string) => parsedBy((v) => parsePixels(flag, v));

export const METHOD_FLAGS: Record<string, Flag> = {
  method: { type: 'string', help: `training method: ${METHODS.join(', ')}`, default: 'natural', check: oneOf('method', METHODS) },
  eps: { type: 'string', help: 'L-inf radius of the training perturbation (adversarial methods)', default: '8/255', check: pixels('eps') },
  replays: { type: 'string', help: 'free: replays m of each minibatch (epochs are divided by m)', default: '8', check: intFlag('replays', 1, 64) },
  steps: { type: 'string', help: 'pgd: attack steps K per minibatch', default: '7', check: intFlag('steps', 1, 1000) },
  'step-size': { type: 'string', help: 'pgd / fgsm-rs: attack step size (default: 2/255 for pgd, 1.25·eps for fgsm-rs)', check: pixels('step-size') },
  'attack-bn': { type: 'string', help: "pgd / fgsm-rs: BN in attack steps: 'train' (batch statistics, running ones untouched; Madry) or 'eval'", default: 'train', check: (v) => {
    if (v !== 'train' && v !== 'eval') throw new CliError(`--attack-bn must be 'train' or 'eval', got '${v}'`);
  } },
  guard: { type: 'boolean', help: 'fgsm-rs: stop when PGD-5 accuracy on a held training batch drops by > 20 points (Wong et al.)' },
};

export interface MethodChoice {
  config: RunConfig['method'];
  /** Passes over the data for a natural-equivalent epoch count. */
  epochs: (naturalEpochs: number) => number;
  /** How the epoch count was derived, for the run's header line. */
  describeEpochs: (naturalEpochs: number) => string;
}

export function methodConfig(flags: Flags): MethodChoice {
  const eps = parsePixels('eps', flags.eps as string);
  switch (flags.method as (typeof METHODS)[number]) {
    case 'free': {
      const m = Number(flags.replays);
      return {
        config: { name: 'free', eps, replays: m },
        epochs: (e) => Math.max(1, Math.ceil(e / m)),
        describeEpochs: (e) => `${e} natural-equivalent epochs / ${m} replays = ${Math.max(1, Math.ceil(e / m))} passes over the data`,
      };
    }
    case 'pgd':
    case 'fgsm-rs': {
      const pgd = flags.method === 'pgd';
      const stepSize = flags['step-size'] ? parsePixels('step-size', flags['step-size'] as string) : pgd ? 2 / 255 : 1.25 * eps;
      return {
        config: { name: flags.method as string, eps, stepSize, steps: pgd ? Number(flags.steps) : 1, attackBn: flags['attack-bn'] as string, guard: !!flags.guard },
        epochs: (e) => e,
        describeEpochs: (e) => `${e} epochs`,
      };
    }
    default:
      return { config: { name: 'natural' }, epochs: (e) => e, describeEpochs: (e) => `${e} epochs` };
  }
}

export function makeMethod(c: RunConfig): Method {
  const m = c.method;
  switch (m.name) {
    case 'natural':
      return new Natural();
    case 'free':
      return new Free({ replays: Number(m.replays), eps: Number(m.eps), shape: [c.batch, 3, 32, 32] });
    case 'pgd':
    case 'fgsm-rs':
      return new AttackTraining({
        name: m.name,
        eps: Number(m.eps),
        stepSize: Number(m.stepSize),
        steps: Number(m.steps),
        attackBn: m.attackBn as AttackBn,
        seed: c.seed,
        guardDrop: m.guard ? 0.2 : null,
      });
    default:
      throw new Error(`unknown training method '${m.name}' in the run configuration`);
  }
}

/** 'free (eps 8/255, replays 4)': a run's method configuration as people write it. */
export function describeMethod(m: RunConfig['method']): string {
  const opts = Object.entries(m)
    .filter(([k]) => k !== 'name')
    .map(([k, v]) => `${k} ${typeof v === 'number' && /eps|step/i.test(k) ? fmtPixels(v) : v}`);
  return opts.length ? `${m.name} (${opts.join(', ')})` : m.name;
}
