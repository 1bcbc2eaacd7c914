// Recording, the bottom of autodiff: every op calls `record` after its forward. A tape on the stack keeps a
// node (inputs, output, backward closure) for each op whose inputs depend on one of its leaves. Several tapes
// may be active at once (a valueAndGrads inside another): each records what depends on its own leaves, so the
// outer tape also sees the inner one's forward and, with createGraph, its backward (engine/autodiff.ts).
import type { Tensor } from './tensor.js';

/**
 * An input's gradient with the gradient accumulated for it so far (`prev[i]` of the backward) already added in:
 * a backward whose kernel can add while it stores returns this, and the tape skips its own add pass.
 */
export interface Accumulated {
  readonly sum: Tensor;
}

/**
 * Computes the gradients of a node's inputs from the gradient of its output; null where `needs[i]` is false.
 * `prev[i]` is the gradient the tape has accumulated for input i so far (null if none, or if the input appears
 * twice among the node's inputs); a backward may fold it into its result and return { sum }.
 */
export type BackwardFn = (
  dy: Tensor,
  needs: readonly boolean[],
  prev: readonly (Tensor | null)[],
) => readonly (Tensor | Accumulated | null)[];

/** The gradient `compute(prev)` as an input's result: accumulated when it was given the tape's running sum. */
export function accumulated(prev: Tensor | null, compute: (prev?: Tensor) => Tensor): Tensor | Accumulated {
  return prev ? { sum: compute(prev) } : compute();
}

export interface Node {
  op: string;
  inputs: readonly Tensor[];
  output: Tensor;
  needs: boolean[];
  backward: BackwardFn;
}

export class Tape {
  readonly nodes: Node[] = [];
  /** Ids of tensors that depend on a requested leaf. */
  readonly tracked = new Set<number>();

  constructor(readonly leaves: readonly Tensor[]) {
    for (const t of leaves) this.tracked.add(t.id);
  }
}

let stack: Tape[] = [];

/** Records an op on every active tape on which one of its inputs depends on a requested leaf. */
export function record(op: string, inputs: readonly Tensor[], output: Tensor, backward: BackwardFn): void {
  for (const tape of stack) {
    const needs = inputs.map((t) => tape.tracked.has(t.id));
    if (!needs.some(Boolean)) continue;
    tape.nodes.push({ op, inputs, output, needs, backward });
    tape.tracked.add(output.id);
  }
}

/**
 * Whether an op on these tensors would be recorded. A backward closure whose fused kernels have no derivative
 * of their own asks this to choose between them and a differentiable composite (only while a create-graph
 * backward records it).
 */
export function recording(tensors: readonly Tensor[]): boolean {
  return stack.some((tape) => tensors.some((t) => tape.tracked.has(t.id)));
}

/** Whether any tape is active (a valueAndGrads call is running its function). */
export const taping = (): boolean => stack.length > 0;

/** Runs `fn` with `tape` recording on top of the active tapes. */
export function withTape<T>(tape: Tape, fn: () => T): T {
  stack.push(tape);
  try {
    return fn();
  } finally {
    stack.pop();
  }
}

/** Runs `fn` with no tape recording (a first-order backward pass: its gradients are constants). */
export function untaped<T>(fn: () => T): T {
  const saved = stack;
  stack = [];
  try {
    return fn();
  } finally {
    stack = saved;
  }
}
