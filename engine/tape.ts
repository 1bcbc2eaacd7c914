// Reverse-mode autodiff. While `valueAndGrads` runs its function, every op whose inputs depend on a requested
// leaf records a node (its inputs, output and backward closure). The backward pass walks the nodes in reverse
// recording order, which is a reverse topological order, accumulating gradients per tensor, so shared
// subgraphs (residual connections) cost linear time. Each node learns which of its inputs need a gradient,
// so kernels whose results nobody asked for are never dispatched.
import { checkSameShape, fail } from './check.js';
import { tidy } from './scope.js';
import type { Tensor } from './tensor.js';
import { add, fill, scale } from './ops/elementwise.js';

/** Computes the gradients of a node's inputs from the gradient of its output; null where `needs[i]` is false. */
export type BackwardFn = (dy: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[];

interface Node {
  op: string;
  inputs: readonly Tensor[];
  output: Tensor;
  needs: boolean[];
  backward: BackwardFn;
}

class Tape {
  readonly nodes: Node[] = [];
  /** Ids of tensors that depend on a requested leaf. */
  readonly tracked = new Set<number>();

  constructor(readonly leaves: readonly Tensor[]) {
    for (const t of leaves) this.tracked.add(t.id);
  }

  backward(loss: Tensor, seed?: Tensor): Tensor[] {
    const grads = new Map<number, Tensor>();
    const refs = new Map<Tensor, number>();
    const hold = (t: Tensor) => refs.set(t, (refs.get(t) ?? 0) + 1);
    const release = (t: Tensor) => {
      const n = refs.get(t)! - 1;
      refs.set(t, n);
      if (n === 0) t.dispose();
    };
    const dloss = seed ?? fill(loss.shape, 1, 'dloss');
    grads.set(loss.id, dloss);
    hold(dloss);

    for (let k = this.nodes.length - 1; k >= 0; k--) {
      const node = this.nodes[k];
      const dy = grads.get(node.output.id);
      if (!dy) continue; // the output does not reach the loss
      grads.delete(node.output.id);
      const results = node.backward(dy, node.needs);
      node.inputs.forEach((x, i) => {
        const g = results[i];
        if (!node.needs[i] || !g) return;
        hold(g);
        const prev = grads.get(x.id);
        if (prev) {
          const sum = add(prev, g);
          hold(sum);
          release(prev);
          release(g);
          grads.set(x.id, sum);
        } else {
          grads.set(x.id, g);
        }
      });
      release(dy);
    }
    return this.leaves.map((leaf) => grads.get(leaf.id) ?? fill(leaf.shape, 0, `d${leaf.name}`));
  }
}

let active: Tape | null = null;

/** Called at every backward pass with the tensors it differentiates (the training layer's pass meter). */
export type BackwardListener = (wrt: readonly Tensor[]) => void;
const listeners = new Set<BackwardListener>();

/** Registers a listener of backward passes; returns its removal. */
export function onBackward(listener: BackwardListener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** Records an op on the active tape, if any of its inputs depends on a requested leaf. */
export function record(op: string, inputs: readonly Tensor[], output: Tensor, backward: BackwardFn): void {
  if (!active) return;
  const needs = inputs.map((t) => active!.tracked.has(t.id));
  if (!needs.some(Boolean)) return;
  active.nodes.push({ op, inputs, output, needs, backward });
  active.tracked.add(output.id);
}

/**
 * Runs `f` and backpropagates its scalar result into each tensor of `wrt` (weights, the input batch, or any
 * subset). Only the kernels needed for those gradients run. Every intermediate tensor, including the saved
 * activations, is disposed on return; the caller owns `value` and `grads`.
 * With `seed` (a cotangent of f's output shape, owned by the caller), f may return any shape and the result
 * is the vector-Jacobian product seed·∂f/∂wrt.
 */
export function valueAndGrads(
  f: () => Tensor,
  wrt: readonly Tensor[],
  seed?: Tensor,
): { value: Tensor; grads: Tensor[] } {
  if (active) fail('valueAndGrads', 'nested calls are not supported');
  return tidy(() => {
    const tape = new Tape(wrt);
    active = tape;
    let value: Tensor;
    try {
      value = f();
    } finally {
      active = null;
    }
    if (seed) {
      checkSameShape('valueAndGrads', value, seed);
      // The caller owns the seed: hand the tape a copy it may free.
      seed = scale(seed, 1);
    } else if (value.size !== 1) {
      fail('valueAndGrads', `f must return a scalar (or pass a seed), got ${value.describe()}`);
    }
    for (const l of listeners) l(wrt);
    return { value, grads: tape.backward(value, seed) };
  });
}
