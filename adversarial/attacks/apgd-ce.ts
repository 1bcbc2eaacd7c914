// APGD-CE (Croce & Hein 2020), AutoAttack's first attack: APGD (apgd.ts) on the cross-entropy.
import { defineAttack } from '../attack.js';
import { APGD_OPTIONS, apgdAttack, apgdText } from './apgd.js';
import { apgdLimit } from './shared-options.js';

export default defineAttack({
  name: 'apgd-ce',
  summary:
    "APGD-CE (Croce & Hein 2020): step-size-free PGD with momentum on the cross-entropy, AutoAttack's first attack",
  options: APGD_OPTIONS,
  describe: (o) => apgdText('APGD-CE', o),
  limit: apgdLimit,
  create: (o, env) => apgdAttack('ce', o, env),
});
