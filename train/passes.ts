// Pass accounting measured from what ran: the counted model reports each forward pass (full, or through the first
// layer alone), the engine reports each backward pass and what it differentiated, and the step context each SGD
// step. A method cannot forget to count, and a test compares every method's declared cost with these counts.
import { onBackward, type Tensor } from '../engine/index.js';
import { noPasses, PASS_KINDS, type PassCounts } from '../adversarial/method.js';

export class PassMeter {
  readonly passes: PassCounts = noPasses();
  /** A full forward pass ran since the last backward pass: the next backward goes through the whole network. */
  private fullSinceBackward = false;
  private readonly weights: Set<Tensor>;

  constructor(weights: readonly Tensor[]) {
    this.weights = new Set(weights);
  }

  forward(): void {
    this.passes.forward++;
    this.fullSinceBackward = true;
  }

  partialForward(): void {
    this.passes.partialForward++;
  }

  /** `rest` completed the partial pass `first` began: one full pass, not a partial one. */
  completePartial(): void {
    this.passes.partialForward--;
    this.forward();
  }

  sgdStep(): void {
    this.passes.sgdSteps++;
  }

  private backward(wrt: readonly Tensor[]): void {
    const p = this.passes;
    if (!this.fullSinceBackward) p.partialBackward++;
    else if (wrt.some((t) => this.weights.has(t))) p.backwardWeights++;
    else p.backwardInputOnly++;
    this.fullSinceBackward = false;
  }

  /** Runs `fn` with the engine's backward passes counted here; an async `fn` is counted until it settles. */
  measure<T>(fn: () => T): T {
    this.fullSinceBackward = false;
    const off = onBackward((wrt) => this.backward(wrt));
    let out: T;
    try {
      out = fn();
    } catch (e) {
      off();
      throw e;
    }
    if (out instanceof Promise) return out.finally(off) as T;
    off();
    return out;
  }
}

export const addPasses = (into: PassCounts, from: PassCounts, sign = 1): void => {
  for (const k of PASS_KINDS) into[k] += sign * from[k];
};
