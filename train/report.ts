// Pass counts as the command line and reports print them.
import type { PassCounts } from '../adversarial/method.js';

/** '96 forward, 96 backward (weights), 0 backward (input only), 96 SGD steps' (+ partial passes where any ran). */
export function formatPasses(p: PassCounts): string {
  const partial =
    p.partialForward || p.partialBackward
      ? `, ${p.partialForward} first-layer forward, ${p.partialBackward} first-layer backward`
      : '';
  const second = p.backwardSecondOrder ? `, ${p.backwardSecondOrder} backward (second order)` : '';
  return `${p.forward} forward, ${p.backwardWeights} backward (weights), ${p.backwardInputOnly} backward (input only)${second}${partial}, ${p.sgdSteps} SGD steps`;
}
