// The threat models tabular datasets declare. L2: TabularBench's evaluation radius. L-inf: the largest L-inf ball
// inside that L2 ball on the d mutable features (radius 0.5 / sqrt(d)), so that an attack succeeding in it also
// succeeds in the L2 evaluation: the same budget spread evenly over every feature an attacker may change.
import type { ThreatDefaults } from '../dataset.js';

export const L2_WHY =
  "TabularBench's evaluation radius (Simonetto et al. 2024): L2 0.5 on the min-max scaled mutable features";

const L2_EPS = 0.5;

/** The L-inf threat of a dataset with `mutable` changeable features, rounded down to 3 decimals; `scale` says what it means in the data. */
export function linfInscribed(mutable: number, scale: string): ThreatDefaults {
  const eps = Math.floor((1000 * L2_EPS) / Math.sqrt(mutable)) / 1000;
  return {
    norm: 'linf',
    eps,
    why: `the largest L-inf ball inside the L2 0.5 ball on the ${mutable} mutable features (0.5 / sqrt(${mutable})); ${scale}`,
  };
}
