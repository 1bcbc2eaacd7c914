// Deterministic release of GPU memory: every tensor created inside `tidy(fn)` is disposed when fn returns (or
// throws), except the tensors it returns (which move to the enclosing scope) and those passed to `keep()`.
import type { Tensor } from './tensor.js';

const stack: Set<Tensor>[] = [];

/** Called by the Tensor constructor. */
export function track(t: Tensor): void {
  stack[stack.length - 1]?.add(t);
}

/** Removes a tensor from every enclosing scope so no `tidy` disposes it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

export type TensorContainer =
  Tensor | void | undefined | null | number | string | boolean | TensorContainer[] | { [k: string]: TensorContainer };

function collect(x: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (x === null || typeof x !== 'object' || seen.has(x)) return;
  seen.add(x);
  if ((x as { isTensor?: boolean }).isTensor) {
    out.add(x as Tensor);
    return;
  }
  for (const v of Array.isArray(x) ? x : x instanceof Map ? x.values() : Object.values(x)) collect(v, out, seen);
}

/** Runs `fn`, then disposes every tensor it created that is not part of its result. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    // Nothing fn made can be returned any more: free it all, then let the error through.
    for (const t of scope) t.dispose();
    throw e;
  } finally {
    stack.pop();
  }
  const returned = new Set<Tensor>();
  collect(result, returned);
  const parent = stack[stack.length - 1];
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}
