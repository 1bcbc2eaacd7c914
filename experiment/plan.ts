// The experiment's plan: which runs train, for how long, with which seeds, and how they are evaluated. Two
// comparisons share one model, data, augmentation, optimizer and schedule:
//   1. equal epochs, as the paper: natural, free-m (natural-equivalent epochs divided by m) and 7-PGD for the
//      same epoch count (so about 8x the passes);
//   2. equal cost: every method under one budget of full forward passes per training image.
// A run that both comparisons need (natural, free-m) trains once.
import { declaredCost, findMethod, parseShortForm, sgdStepsPerBatch, shortForm, type ResolvedMethod } from '../adversarial/registry.js';
import type { AttackSetting } from '../adversarial/attack.js';
import { resolveAttack, type ResolvedAttack } from '../adversarial/attack-registry.js';
import { IMAGE_THREAT } from '../adversarial/threat.js';

/** Where every experiment attacks: CIFAR-10's images under its L-inf 8/255 threat model. */
export const EXPERIMENT_SETTING: AttackSetting = { threat: IMAGE_THREAT, images: true, classes: 10 };

export interface Preset {
  /** The dataset (default cifar10). */
  data?: string;
  model: string;
  trainLimit: number;
  batch: number;
  /** Natural-equivalent epochs of comparison 1; comparison 2's budget is as many full passes per image. */
  epochs: number;
  /** Comparison 1's methods; those in `seeded` run once per seed there (comparison 2 runs the first seed). */
  equalEpochs: string[];
  /** Comparison 2's methods (those not registered are skipped and listed in the report). */
  equalCost: string[];
  seeds: number[];
  seeded: string[];
  testImages: number;
  /** Iterations of APGD (CE and, where it exists, targeted DLR); 0 leaves APGD out. */
  apgdSteps: number;
  /** APGD on the first N of the test images (null: all of them). */
  apgdLimit: number | null;
  /**
   * AutoAttack's chain (aa-lite): APGD-CE, then APGD-T on the examples it left robust, 100 iterations each, so
   * the APGD-T column is the worst case over both; false: each attack on every example, independently.
   */
  apgdChained: boolean;
  lr: number;
}

const EQUAL_COST = ['natural', 'free-8', 'pgd-7', 'fgsm-rs', 'yopo-5-3', 'atta-1', 'trades-10', 'nfgsm'];

export const PRESETS: Record<string, Preset> = {
  // The main job (`npm start`): natural and free-4 side by side under one budget, then the same PGD evaluation.
  quick: { model: 'wrn-16-1', trainLimit: 1500, batch: 128, epochs: 8, equalEpochs: [], equalCost: ['natural', 'free-4'], seeds: [0], seeded: [],
    testImages: 500, apgdSteps: 0, apgdLimit: null, apgdChained: false, lr: 0.1 },
  // One seed, a small subset and budget: the equal-cost comparison in about an hour here.
  small: { model: 'wrn-16-1', trainLimit: 2000, batch: 64, epochs: 8, equalEpochs: [], equalCost: ['natural', 'free-4', 'free-8', 'pgd-7', 'fgsm-rs'], seeds: [0], seeded: [],
    testImages: 300, apgdSteps: 50, apgdLimit: 100, apgdChained: false, lr: 0.1 },
  // Both comparisons, 3 seeds of natural, free-8 and 7-PGD in comparison 1, on 2,500 training images with a WRN-10-1
  // at batch 64 (twice the SGD steps of batch 128 for 7% more time here): sized to about 2 hours on this machine,
  // where the 7-PGD runs at equal epochs and the evaluations take most of it (README, "Why these sizes"). APGD
  // runs as AutoAttack chains it: each attack only on the examples still robust, which is also the strict figure.
  medium: { model: 'wrn-10-1', trainLimit: 2500, batch: 64, epochs: 8, equalEpochs: ['natural', 'free-2', 'free-4', 'free-8', 'pgd-7'], equalCost: EQUAL_COST,
    seeds: [0, 1, 2], seeded: ['natural', 'free-8', 'pgd-7'], testImages: 1000, apgdSteps: 100, apgdLimit: 100, apgdChained: true, lr: 0.1 },
  // Seconds, on generated data (no download): the tests, and a first try of a cluster set-up (--executor slurm).
  tiny: { data: 'synthetic', model: 'wrn-10-1', trainLimit: 64, batch: 16, epochs: 4, equalEpochs: [], equalCost: ['natural', 'free-2'], seeds: [0], seeded: [],
    testImages: 32, apgdSteps: 0, apgdLimit: null, apgdChained: false, lr: 0.05 },
  // The paper's setting (WRN-34-10, all of CIFAR-10, 200 natural-equivalent epochs, the full test set): a real GPU.
  paper: { model: 'wrn-34-10', trainLimit: 50000, batch: 128, epochs: 200, equalEpochs: ['natural', 'free-2', 'free-4', 'free-8', 'pgd-7'], equalCost: EQUAL_COST,
    seeds: [0, 1, 2], seeded: ['natural', 'free-8', 'pgd-7'], testImages: 10000, apgdSteps: 100, apgdLimit: null, apgdChained: true, lr: 0.1 },
};

export interface RunSpec {
  /** Folder name and key: 'free-8-e1-s0' (label, passes over the data, seed). */
  id: string;
  label: string;
  method: ResolvedMethod;
  seed: number;
  /** Passes over the training subset. */
  epochs: number;
  /** Which comparisons (1, 2) use this run. */
  comparisons: number[];
}

const registered = (label: string): boolean => {
  try {
    findMethod(parseShortForm(label).descriptor.name);
    return true;
  } catch {
    return false;
  }
};

/**
 * The runs of a preset, deduplicated (the same method, passes and seed train once), seed by seed: every run of the
 * first seed comes before any of the second, so a preset stopped part-way already holds both comparisons.
 */
export function plan(p: Preset): { runs: RunSpec[]; skipped: string[] } {
  const runs = new Map<string, RunSpec>();
  const skipped: string[] = [];
  const add = (label: string, epochs: number, seed: number, comparison: number) => {
    const method = parseShortForm(label);
    const id = `${shortForm(method)}-e${epochs}-s${seed}`;
    const r = runs.get(id) ?? { id, label: shortForm(method), method, seed, epochs, comparisons: [] };
    if (!r.comparisons.includes(comparison)) r.comparisons.push(comparison);
    runs.set(id, r);
  };
  const seedsOf = (label: string) => (p.seeded.includes(label) ? p.seeds : [p.seeds[0]]);
  for (const label of p.equalEpochs) {
    if (!registered(label)) { skipped.push(label); continue; }
    // Free-m replays each minibatch m times: its natural-equivalent epochs are divided by m. 7-PGD trains as many
    // epochs as natural training (the paper's comparison), each costing its attack steps too.
    const per = sgdStepsPerBatch(parseShortForm(label));
    if (p.epochs % per !== 0) throw new Error(`experiment: ${p.epochs} natural-equivalent epochs do not divide by ${label}'s ${per} SGD steps per minibatch; pick a multiple`);
    const epochs = p.epochs / per;
    for (const s of seedsOf(label)) add(label, epochs, s, 1);
  }
  for (const label of p.equalCost) {
    if (!registered(label)) { skipped.push(label); continue; }
    // The budget: `epochs` full forward passes per training image.
    const perPass = declaredCost(parseShortForm(label)).forward;
    const epochs = Math.max(1, Math.round(p.epochs / perPass));
    add(label, epochs, p.seeds[0], 2);
  }
  // Other seeds of a comparison-2 run that comparison 1 trains anyway count there too (natural, free-8).
  for (const r of runs.values()) {
    if (r.comparisons.includes(2)) continue;
    if ([...runs.values()].some((o) => o.comparisons.includes(2) && o.label === r.label && o.epochs === r.epochs)) r.comparisons.push(2);
  }
  const bySeed = [...runs.values()].sort((a, b) => p.seeds.indexOf(a.seed) - p.seeds.indexOf(b.seed));
  return { runs: bySeed, skipped: [...new Set(skipped)] };
}

/** The evaluation every model gets, on the same test images. */
export function attacks(p: Preset, available: readonly string[]): ResolvedAttack[] {
  const apgdLimit = p.apgdLimit ?? 0;
  const out = [resolveAttack({ name: 'pgd', steps: 20, stepSize: 2 / 255, restarts: 1, loss: 'ce' }, EXPERIMENT_SETTING.threat)];
  if (p.apgdSteps > 0 && p.apgdChained) {
    if (p.apgdSteps !== 100) throw new Error(`experiment: the chained APGD evaluation runs AutoAttack's 100 iterations, not ${p.apgdSteps}`);
    out.push(resolveAttack({ name: 'aa-lite', apgdLimit }));
  } else if (p.apgdSteps > 0) {
    out.push(resolveAttack({ name: 'apgd-ce', apgdSteps: p.apgdSteps, restarts: 1, apgdLimit }));
    if (available.includes('apgd-t')) out.push(resolveAttack({ name: 'apgd-t', apgdLimit }));
  }
  return out;
}
