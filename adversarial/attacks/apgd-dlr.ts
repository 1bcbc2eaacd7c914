// APGD-DLR (Croce & Hein 2020): APGD (apgd.ts) on the difference-of-logits ratio, untargeted.
import { defineAttack } from '../attack.js';
import { APGD_OPTIONS, apgdAttack, apgdText } from './apgd.js';
import { apgdLimit } from './shared-options.js';

export default defineAttack({
  name: 'apgd-dlr',
  summary: 'APGD-DLR (Croce & Hein 2020): APGD on the scale-invariant difference-of-logits ratio, untargeted',
  options: APGD_OPTIONS,
  describe: (o) => apgdText('APGD-DLR', o),
  limit: apgdLimit,
  unsupported: (s) => (s.classes < 3 ? `the DLR loss needs at least 3 classes, the model has ${s.classes}` : null),
  create: (o, env) => apgdAttack('dlr', o, env),
});
