// Restarts keep the per-example worst case: an example is broken if any restart fooled the model.
import { keep, type Tensor } from '../../engine/index.js';
import { selectRows } from './rows.js';

/**
 * Accumulates restarts: each example keeps the adversarial point of the first restart that fooled the model, and
 * an example no restart fooled keeps the latest restart's point.
 */
export class WorstCase {
  private adv: Tensor | null = null;
  private flags: boolean[] = [];

  /** Takes ownership of adv (a kept tensor); `correct` says where the model still classifies it correctly. */
  add(adv: Tensor, correct: readonly boolean[]): void {
    if (!this.adv) {
      this.adv = adv;
      this.flags = [...correct];
      return;
    }
    // Examples still unbroken take the new point: it fools the model, or it is the latest.
    const next = keep(selectRows(this.flags, adv, this.adv));
    this.adv.dispose();
    adv.dispose();
    this.adv = next;
    this.flags = this.flags.map((c, i) => c && correct[i]);
  }

  get allBroken(): boolean {
    return this.flags.every((c) => !c);
  }

  /** The combined batch (now the caller's) and the per-example still-correct flags. */
  result(): { adv: Tensor; correct: boolean[] } {
    if (!this.adv) throw new Error('advfree: WorstCase.result: no restart was added');
    return { adv: this.adv, correct: this.flags };
  }
}
