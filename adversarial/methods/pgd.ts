// Madry et al.'s K-PGD adversarial training: random start in the eps ball, K signed steps of the input gradient
// (input-only backward passes), then one SGD step on the adversarial batch.
import { defineMethod, noPasses } from '../method.js';
import { AttackTraining, attackProbes } from './attack-training.js';
import { ATTACK_BN, EPS, stepSize } from './common.js';

export default defineMethod({
  name: 'pgd',
  summary: 'K-PGD adversarial training (Madry et al. 2018): K attack steps, then one SGD step on the attacked batch',
  options: {
    steps: { kind: 'int', min: 1, max: 1000, default: 7, help: 'attack steps K per minibatch' },
    eps: EPS,
    stepSize: stepSize(2 / 255, 'attack step size'),
    attackBn: ATTACK_BN,
    fullAttackBackward: { kind: 'flag', default: false, help: 'ablation: attack steps also compute (and drop) every weight gradient' },
  },
  short: ['steps'],
  shortLetters: ['K'],
  cost: (o) => ({ ...noPasses(), forward: o.steps + 1, backwardInputOnly: o.fullAttackBackward ? 0 : o.steps, backwardWeights: o.fullAttackBackward ? o.steps + 1 : 1, sgdSteps: 1 }),
  create: (o, env) => new AttackTraining({ ...o, seed: env.seed, guardDrop: null }),
  probes: attackProbes,
});
