// The fast gradient sign method (Goodfellow et al. 2015): one step of eps from x, x + eps·sign(∇x loss), in the
// box; for L2 the fast gradient method, x + eps·∇x loss/‖∇x loss‖₂.
import type { Tensor } from '../../engine/index.js';
import { defineAttack } from '../attack.js';
import type { ThreatModel } from '../threat.js';
import type { AttackLoss } from './model.js';
import { pgd } from './pgd.js';
import { LOSS } from './shared-options.js';
import type { AttackResult, Classifier } from './types.js';

export function fgsm(
  classify: Classifier,
  x: Tensor,
  y: Tensor,
  opts: { threat: ThreatModel; loss?: AttackLoss },
): Promise<AttackResult> {
  return pgd(classify, x, y, {
    threat: opts.threat,
    stepSize: opts.threat.eps,
    steps: 1,
    randomStart: false,
    loss: opts.loss,
  });
}

export default defineAttack({
  name: 'fgsm',
  summary: 'FGSM (Goodfellow et al. 2015): one step of eps from the clean input (L2: the fast gradient method)',
  options: { loss: LOSS },
  describe: () => ({ title: 'FGSM', details: [] }),
  create: (o, env) => (f, x, y) => fgsm(f, x, y, { threat: env.threat, loss: o.loss as AttackLoss }),
});
