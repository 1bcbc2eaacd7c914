// The training methods the cost bench can run, by name: natural, free-M (M replays), pgd-K, fgsm-rs (the training
// code's own classes), and pgd-K-full / fgsm-rs-full, whose attack steps also compute every weight gradient.
// Any Method plugs in here with a pattern and a constructor.
import type { Shape } from '../engine/index.js';
import { Free } from '../adversarial/free.js';
import type { Method } from '../adversarial/method.js';
import { Natural } from '../adversarial/natural.js';
import { AttackTraining } from '../adversarial/pgd-train.js';

export interface MethodSetting {
  /** L-inf radius, in [0,1] pixel units. */
  eps: number;
  /** Seeds the attacks' random starts. */
  seed: number;
  /** The minibatch shape [N, 3, H, W] (free training's perturbation buffer). */
  shape: Shape;
}

function attack(kind: 'pgd' | 'fgsm-rs', steps: number, stepSize: number, full: boolean, s: MethodSetting): Method {
  return new AttackTraining({ name: kind, eps: s.eps, stepSize, steps, seed: s.seed, attackBn: 'train', guardDrop: null, fullAttackBackward: full });
}

type Factory = (m: RegExpExecArray, s: MethodSetting) => Method;

const FACTORIES: [RegExp, Factory][] = [
  [/^natural$/, () => new Natural()],
  [/^free-([1-9]\d*)$/, (m, s) => new Free({ replays: Number(m[1]), eps: s.eps, shape: s.shape })],
  // The training CLI's defaults: PGD steps of 2/255 (Madry et al.), FGSM-RS steps of 1.25·eps (Wong et al.).
  [/^pgd-([1-9]\d*)(-full)?$/, (m, s) => attack('pgd', Number(m[1]), 2 / 255, !!m[2], s)],
  [/^fgsm-rs(-full)?$/, (m, s) => attack('fgsm-rs', 1, 1.25 * s.eps, !!m[1], s)],
];

export const METHOD_FORMS = 'natural, free-M, pgd-K, pgd-K-full, fgsm-rs, fgsm-rs-full';

function lookup(name: string): { m: RegExpExecArray; make: Factory } {
  for (const [re, make] of FACTORIES) {
    const m = re.exec(name);
    if (m) return { m, make };
  }
  throw new Error(`unknown method '${name}': expected one of ${METHOD_FORMS} (counts >= 1)`);
}

/** Throws naming the accepted forms when `name` is none of them. */
export const checkMethodName = (name: string): void => void lookup(name);

export function makeBenchMethod(name: string, s: MethodSetting): Method {
  const { m, make } = lookup(name);
  return make(m, s);
}

/** The attack steps per SGD step of a pgd-K / fgsm-rs name, else 0. */
export function attackSteps(name: string): number {
  const m = /^pgd-(\d+)/.exec(name);
  return m ? Number(m[1]) : name.startsWith('fgsm-rs') ? 1 : 0;
}
