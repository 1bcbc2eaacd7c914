// Wong et al.'s FGSM with random start ("Fast is better than free", 2020): one signed step of ~1.25·eps from a
// uniform random start (for L2: a normalised-gradient step from a random point of the sphere), then one SGD step;
// optional guard against catastrophic overfitting.
import { defineMethod, noPasses } from '../method.js';
import { NORMS } from '../threat.js';
import { AttackTraining, attackProbes } from './attack-training.js';
import { ATTACK_BN, stepSize } from './common.js';

export default defineMethod({
  name: 'fgsm-rs',
  summary: 'FGSM with random start (Wong et al. 2020): one attack step of 1.25·eps, then one SGD step',
  options: {
    stepSize: stepSize((_, t) => 1.25 * t.eps, 'attack step size', '1.25·eps'),
    attackBn: ATTACK_BN,
    guard: {
      kind: 'flag',
      default: false,
      help: 'stop when PGD-5 accuracy on a held training batch drops by > 20 points (Wong et al.)',
    },
    fullAttackBackward: {
      kind: 'flag',
      default: false,
      help: 'ablation: the attack step also computes (and drops) every weight gradient',
    },
  },
  short: [],
  norms: NORMS,
  cost: (o) => ({
    ...noPasses(),
    forward: 2,
    backwardInputOnly: o.fullAttackBackward ? 0 : 1,
    backwardWeights: o.fullAttackBackward ? 2 : 1,
    sgdSteps: 1,
  }),
  create: (o, env) =>
    new AttackTraining({ ...o, threat: env.threat, steps: 1, seed: env.seed, guardDrop: o.guard ? 0.2 : null }),
  probes: (o, p) => attackProbes({ ...o, steps: 1 }, p),
});
