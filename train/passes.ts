// Pass accounting measured from what ran: the counted model reports each forward pass (full, or through the first
// layer alone), the engine reports each valueAndGrads call (when its function starts, and its backward pass with
// what it differentiated) and the step context each SGD step. A method cannot forget to count, and a test
// compares every method's declared cost with these counts.
import { onBackward, type Tensor } from '../engine/index.js';
import { noPasses, type PassCounts } from '../adversarial/method.js';

/** What an open valueAndGrads call's function has run so far. */
interface OpenCall {
  /** A full forward pass: its backward goes through the whole network. */
  full: boolean;
  /** A backward pass recorded on its tape (createGraph): its backward differentiates that one too. */
  recorded: boolean;
}

export class PassMeter {
  readonly passes: PassCounts = noPasses();
  /** The valueAndGrads calls running, innermost last (calls nest when a loss contains input gradients). */
  private open: OpenCall[] = [];
  private readonly weights: Set<Tensor>;

  constructor(weights: readonly Tensor[]) {
    this.weights = new Set(weights);
  }

  /** A full pass is seen by every open call: the inner call's forward is also recorded on the outer tapes. */
  forward(): void {
    this.passes.forward++;
    for (const c of this.open) c.full = true;
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

  private backward(wrt: readonly Tensor[], createGraph: boolean): void {
    const p = this.passes;
    const c = this.open.pop() ?? { full: false, recorded: false };
    if (!c.full) p.partialBackward++;
    else if (c.recorded) p.backwardSecondOrder++;
    else if (wrt.some((t) => this.weights.has(t))) p.backwardWeights++;
    else p.backwardInputOnly++;
    if (createGraph) for (const outer of this.open) outer.recorded = true;
  }

  /** Runs `fn` with the engine's backward passes counted here; an async `fn` is counted until it settles. */
  measure<T>(fn: () => T): T {
    this.open = [];
    const off = onBackward({
      open: () => void this.open.push({ full: false, recorded: false }),
      backward: (wrt, cg) => this.backward(wrt, cg),
    });
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
