// Madry et al.'s K-PGD adversarial training: random start in the threat model, K steepest-ascent steps of the input
// gradient (signed for L-inf, normalised for L2; input-only backward passes), then one SGD step on the adversarial
// batch.
import { defineMethod, noPasses } from '../method.js';
import { NORMS } from '../threat.js';
import { AttackTraining, attackProbes } from './attack-training.js';
import { ATTACK_BN, stepSize } from './common.js';

export default defineMethod({
  name: 'pgd',
  summary: 'K-PGD adversarial training (Madry et al. 2018): K attack steps, then one SGD step on the attacked batch',
  options: {
    steps: { kind: 'int', min: 1, max: 1000, default: 7, help: 'attack steps K per minibatch' },
    stepSize: stepSize((_, t) => t.eps / 4, "attack step size (Madry et al.'s 2/255 at eps 8/255)", 'eps/4'),
    attackBn: ATTACK_BN,
    fullAttackBackward: {
      kind: 'flag',
      default: false,
      help: 'ablation: attack steps also compute (and drop) every weight gradient',
    },
    onlyCorrect: {
      kind: 'flag',
      default: false,
      help: "an example the model already misclassifies takes no further attack step (Wong et al.'s MNIST PGD)",
    },
  },
  short: ['steps'],
  shortLetters: ['K'],
  norms: NORMS,
  cost: (o) => ({
    ...noPasses(),
    forward: o.steps + 1,
    backwardInputOnly: o.fullAttackBackward ? 0 : o.steps,
    backwardWeights: o.fullAttackBackward ? o.steps + 1 : 1,
    sgdSteps: 1,
  }),
  create: (o, env) => new AttackTraining({ ...o, threat: env.threat, seed: env.seed, guardDrop: null }),
  probes: attackProbes,
});
