// Standard AutoAttack (Croce & Hein, ICML 2020; autoattack.py, version 'standard'): APGD-CE, APGD-T, FAB-T and
// Square, each on the examples the earlier ones left robust. On non-image inputs it is APGD-CE, APGD-T and FAB-T
// (Square is defined on images; the report says it was skipped).
import { defineAttack, type SuiteStage } from '../attack.js';
import { QUERIES } from './shared-options.js';

export default defineAttack({
  name: 'autoattack',
  summary:
    "AutoAttack's standard suite: APGD-CE, APGD-T, FAB-T, Square, each on the survivors of the previous (100 iterations, 1 restart)",
  options: { queries: QUERIES },
  describe: (o, _, stages) => ({
    title: 'AutoAttack, standard',
    details: stages.map((s) => (s === 'square' ? `Square ${o.queries} queries` : s.toUpperCase())),
  }),
  stages: (o): SuiteStage[] => [
    { name: 'apgd-ce', options: { apgdSteps: 100, restarts: 1 } },
    { name: 'apgd-t', options: { apgdSteps: 100 } },
    { name: 'fab-t', options: { fabSteps: 100 } },
    { name: 'square', options: { queries: o.queries } },
  ],
});
