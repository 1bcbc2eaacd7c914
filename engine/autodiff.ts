// Reverse-mode differentiation, above the ops (engine/record.ts holds the recording they call). While
// `valueAndGrads` runs its function, every op whose inputs depend on a requested leaf records a node on the
// tape. The backward pass walks the nodes in reverse recording order, which is a reverse topological order,
// accumulating gradients per tensor, so shared subgraphs (residual connections) cost linear time. Each node
// learns which of its inputs need a gradient, so kernels whose results nobody asked for are never dispatched.
//
// Gradients of gradients: with `createGraph`, the backward pass itself runs while the enclosing tapes record,
// and every backward closure is built from recorded ops, so the gradients returned are differentiable tensors
// of the enclosing valueAndGrads (double backpropagation: input-gradient penalties, GradAlign, Hessian-vector
// products).
import { checkSameShape, fail } from './check.js';
import { tidy } from './scope.js';
import { Tensor } from './tensor.js';
import { Tape, taping, untaped, withTape } from './record.js';
import { add, fill, scale } from './ops/elementwise.js';

export interface GradOptions {
  /**
   * A cotangent of f's output shape, owned by the caller (the tape works on a copy): f may then return any
   * shape, and the result is the vector-Jacobian product seed·∂f/∂wrt.
   */
  seed?: Tensor;
  /**
   * Record the backward pass on the enclosing tapes, so the gradients can be differentiated again by the
   * valueAndGrads whose function this call runs in. Every tensor of this call (saved activations, backward
   * intermediates) then lives in the enclosing scope, since the enclosing tape's closures may read any of them.
   * Outside any valueAndGrads it has no effect.
   */
  createGraph?: boolean;
}

/**
 * Told of every valueAndGrads call (the training layer's pass meter): `open` before its function runs, `backward`
 * when its backward pass starts, with the tensors it differentiates and whether the pass is recorded to be
 * differentiated again (createGraph). Calls nest, so each `backward` closes the latest open call.
 */
export interface BackwardListener {
  open(): void;
  backward(wrt: readonly Tensor[], createGraph: boolean): void;
}
const listeners = new Set<BackwardListener>();

/** Registers a listener of backward passes; returns its removal. */
export function onBackward(listener: BackwardListener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/**
 * Runs `f` and backpropagates its scalar result into each tensor of `wrt` (weights, the input batch, or any
 * subset); a leaf the result does not depend on gets zeros. Only the kernels needed for those gradients run.
 * At the top level every intermediate tensor, including the saved activations, is disposed on return and the
 * caller owns `value` and `grads`. Inside another valueAndGrads's function, the forward's tensors stay in the
 * enclosing scope (the outer tape may need them) and the gradients are constants of the outer tape, unless
 * `createGraph` asks for them to be differentiable.
 */
export function valueAndGrads(
  f: () => Tensor,
  wrt: readonly Tensor[],
  opts: GradOptions = {},
): { value: Tensor; grads: Tensor[] } {
  const op = 'valueAndGrads';
  const nested = taping();
  // With no enclosing tape nothing could record the backward: createGraph then changes nothing, so a loss made
  // of gradients can also be evaluated on its own (a probe, a log).
  const createGraph = (opts.createGraph ?? false) && nested;
  const { seed } = opts;
  const run = () => {
    const tape = new Tape(wrt);
    for (const l of listeners) l.open();
    const value = withTape(tape, f);
    if (seed) checkSameShape(op, value, seed);
    else if (value.size !== 1) fail(op, `f must return a scalar (or pass a seed), got ${value.describe()}`);
    for (const l of listeners) l.backward(wrt, createGraph);
    // The tape frees its cotangents as it goes, so it starts from a copy of the caller's seed.
    const pass = () => backprop(tape, value, seed ? scale(seed, 1) : fill(value.shape, 1, 'dloss'), !createGraph);
    return { value, grads: createGraph ? pass() : untaped(() => tidy(pass)) };
  };
  return nested ? run() : tidy(run);
}

/**
 * The gradients of the tape's leaves given the cotangent `dloss` of `loss`. With `free`, each cotangent is
 * disposed once every node that reads it has run; without (create-graph), recorded closures may still read
 * them, so they are left to the scope.
 */
function backprop(tape: Tape, loss: Tensor, dloss: Tensor, free: boolean): Tensor[] {
  const grads = new Map<number, Tensor>();
  const refs = new Map<Tensor, number>();
  const hold = (t: Tensor) => refs.set(t, (refs.get(t) ?? 0) + 1);
  const release = (t: Tensor) => {
    const n = refs.get(t)! - 1;
    refs.set(t, n);
    if (n === 0 && free) t.dispose();
  };
  grads.set(loss.id, dloss);
  hold(dloss);
  for (let k = tape.nodes.length - 1; k >= 0; k--) {
    const node = tape.nodes[k];
    const dy = grads.get(node.output.id);
    if (!dy) continue; // the output does not reach the loss
    grads.delete(node.output.id);
    // An input that appears twice would see its running sum change between its two results: no prev for it.
    const prevs = node.inputs.map((x, i) =>
      node.needs[i] && node.inputs.filter((y) => y === x).length === 1 ? (grads.get(x.id) ?? null) : null,
    );
    const results = node.backward(dy, node.needs, prevs);
    node.inputs.forEach((x, i) => {
      const r = results[i];
      if (!node.needs[i] || !r) return;
      if (!(r instanceof Tensor)) {
        // The backward's kernel added the running sum while storing: it replaces it.
        hold(r.sum);
        release(prevs[i]!);
        grads.set(x.id, r.sum);
        return;
      }
      const g = r;
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
  return tape.leaves.map((leaf) => grads.get(leaf.id) ?? fill(leaf.shape, 0, `d${leaf.name}`));
}
