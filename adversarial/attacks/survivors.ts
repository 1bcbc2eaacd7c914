// Attacks in stages, each run only on the examples no earlier stage fooled (AutoAttack's protocol; also the
// targets of APGD-T and FAB-T). The engine has no row gather, so the clean batch lives on the host, and each stage
// uploads the rows it attacks and reads back the adversarial rows of the examples it fooled.
import { tensor, type Tensor } from '../../engine/index.js';
import type { AttackPasses } from './types.js';

/** The examples a stage attacks: rows `idx` of the batch. */
export interface Subset {
  /** The clean rows [m, C, H, W] and their labels [m]: the stage's own (disposed after it). */
  x: Tensor;
  y: Tensor;
  /** The same on the host. */
  xHost: Float32Array;
  labels: Int32Array;
  /** Their indices in the batch. */
  idx: number[];
}

/** What a stage returns: the adversarial rows (a tensor it hands over, or host data) and which still hold. */
export interface StageResult {
  adv: Tensor | Float32Array;
  correct: readonly boolean[];
  passes: AttackPasses;
}

export class Survivors {
  readonly correct: boolean[];
  private readonly adv: Float32Array;
  private readonly row: number;

  /** x [N, C, H, W] on the host with its labels; `correct` (default: all) marks the examples still to attack. */
  constructor(
    readonly xHost: Float32Array,
    readonly shape: readonly number[],
    readonly labels: Int32Array,
    correct?: readonly boolean[],
  ) {
    this.row = shape.slice(1).reduce((a, b) => a * b, 1);
    this.correct = correct ? [...correct] : new Array<boolean>(labels.length).fill(true);
    this.adv = Float32Array.from(xHost);
  }

  static async of(x: Tensor, y: Tensor, correct?: readonly boolean[]): Promise<Survivors> {
    return new Survivors(await x.data(), x.shape, await y.ints(), correct);
  }

  get remaining(): number {
    return this.correct.filter(Boolean).length;
  }

  /** Rows idx of host data [N, ...row] as a new array. */
  private gather(src: Float32Array, idx: readonly number[]): Float32Array {
    const out = new Float32Array(idx.length * this.row);
    idx.forEach((i, k) => out.set(src.subarray(i * this.row, (i + 1) * this.row), k * this.row));
    return out;
  }

  /**
   * Runs `stage` on the examples still correct (not at all when none is); those it fools are marked and keep its
   * adversarial rows. Returns the number of examples attacked.
   */
  async run(stage: (s: Subset) => Promise<StageResult>, passes: AttackPasses): Promise<number> {
    const idx = this.correct.flatMap((c, i) => (c ? [i] : []));
    if (!idx.length) return 0;
    const xHost = this.gather(this.xHost, idx);
    const labels = Int32Array.from(idx, (i) => this.labels[i]);
    const x = tensor(xHost, [idx.length, ...this.shape.slice(1)], { name: 'survivors' });
    const y = tensor(labels, [idx.length], { name: 'survivor_labels' });
    try {
      const r = await stage({ x, y, xHost, labels, idx });
      const adv = r.adv instanceof Float32Array ? r.adv : await r.adv.data().finally(() => (r.adv as Tensor).dispose());
      passes.forward += r.passes.forward;
      passes.backwardInputOnly += r.passes.backwardInputOnly;
      idx.forEach((i, k) => {
        if (r.correct[k]) return;
        this.correct[i] = false;
        this.adv.set(adv.subarray(k * this.row, (k + 1) * this.row), i * this.row);
      });
      return idx.length;
    } finally {
      x.dispose();
      y.dispose();
    }
  }

  /** The adversarial batch (uploaded: the caller disposes it) and the still-correct flags. */
  result(): { adv: Tensor; correct: boolean[] } {
    return { adv: tensor(this.adv, [...this.shape], { name: 'adv' }), correct: [...this.correct] };
  }
}

/**
 * Per example, the class ranked `rank` (1 = the largest) by its logits [N, K], ties broken by the lowest index:
 * APGD-T's and FAB-T's targets, taken from the clean logits.
 */
export function rankedClasses(logits: Float32Array, k: number, idx: readonly number[], rank: number): Int32Array {
  return Int32Array.from(idx, (i) => {
    const row = logits.subarray(i * k, (i + 1) * k);
    const order = Array.from({ length: k }, (_, j) => j).sort((a, b) => row[b] - row[a] || a - b);
    return order[rank - 1];
  });
}
