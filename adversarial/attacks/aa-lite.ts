// AutoAttack's first two attacks, APGD-CE then APGD-T on the examples it left robust: most of AutoAttack's
// strength at a fraction of its cost, and not the standard suite (reports say so).
import { defineAttack, type SuiteStage } from '../attack.js';
import { APGD_LIMIT, apgdLimit } from './shared-options.js';

export default defineAttack({
  name: 'aa-lite',
  summary: 'AutoAttack-lite, not the standard suite: APGD-CE, then APGD-T on its survivors (100 iterations each)',
  options: { apgdLimit: APGD_LIMIT },
  describe: (_, __, stages) => ({
    title: 'AutoAttack-lite, not the standard suite',
    details: stages.map((s) => s.toUpperCase()),
  }),
  limit: apgdLimit,
  stages: (): SuiteStage[] => [
    { name: 'apgd-ce', options: { apgdSteps: 100, restarts: 1 } },
    { name: 'apgd-t', options: { apgdSteps: 100 } },
  ],
});
