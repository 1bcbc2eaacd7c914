// APGD-T (Croce & Hein 2020), AutoAttack's second attack: targeted-DLR APGD towards the classes ranked 2..10 by the
// clean logits (apgd.ts apgdTargeted); with fewer classes, towards every other class.
import { defineAttack } from '../attack.js';
import { apgdTargeted } from './apgd.js';
import { APGD_LIMIT, APGD_STEPS, apgdLimit } from './shared-options.js';

/** AutoAttack's 9 targets, or every other class where there are fewer. */
export const targetsFor = (classes: number): number => Math.min(9, classes - 1);

export default defineAttack({
  name: 'apgd-t',
  summary:
    "APGD-T (Croce & Hein 2020): targeted-DLR APGD towards each of the 9 next-ranked classes, AutoAttack's second attack",
  options: { apgdSteps: APGD_STEPS, apgdLimit: APGD_LIMIT },
  limit: apgdLimit,
  describe: (o, s) => ({
    title: 'APGD-T',
    details: ['targeted DLR', `${targetsFor(s.classes)} targets x ${o.apgdSteps} iterations`],
  }),
  unsupported: (s) =>
    s.classes < 4 ? `the targeted DLR loss needs at least 4 classes, the model has ${s.classes}` : null,
  create: (o, env) => (f, x, y) =>
    apgdTargeted(f, x, y, {
      threat: env.threat,
      steps: o.apgdSteps,
      targets: targetsFor(env.classes),
      seed: env.seed,
      stream: env.stream,
    }),
});
