// The training methods by name: their CLI flags, the configuration recorded in a run, and construction.
import type { Flag, Flags } from '../bin/args.js';
import { CliError } from '../bin/args.js';
import type { RunConfig } from '../nn/trainer.js';
import type { Method } from './method.js';
import { Natural } from './natural.js';

export const METHODS = ['natural'] as const;

export const METHOD_FLAGS: Record<string, Flag> = {
  method: { type: 'string', help: `training method: ${METHODS.join(', ')}`, default: 'natural', check: (v) => {
    if (!(METHODS as readonly string[]).includes(v)) throw new CliError(`--method must be one of ${METHODS.join(', ')}, got '${v}'`);
  } },
};

export interface MethodChoice {
  config: RunConfig['method'];
  /** Passes over the data for a natural-equivalent epoch count. */
  epochs: (naturalEpochs: number) => number;
}

export function methodConfig(flags: Flags): MethodChoice {
  const name = flags.method as string;
  switch (name) {
    default:
      return { config: { name: 'natural' }, epochs: (e) => e };
  }
}

export function makeMethod(c: RunConfig): Method {
  switch (c.method.name) {
    case 'natural':
      return new Natural();
    default:
      throw new Error(`unknown training method '${c.method.name}' in the run configuration`);
  }
}
