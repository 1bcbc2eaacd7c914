// The experiment's plan: which runs train, for how long, with which seeds, and how they are evaluated. Two
// comparisons share one model, data, augmentation, optimizer and schedule:
//   1. equal epochs, as the paper: natural, free-m (natural-equivalent epochs divided by m) and 7-PGD for the
//      same epoch count (so about 8x the passes);
//   2. equal cost: every method under one budget of full forward passes per training image.
// A run that both comparisons need (natural, free-m) trains once.
import {
  declaredCost,
  findMethod,
  parseShortForm,
  resolveMethod,
  sgdStepsPerBatch,
  shortForm,
  type ResolvedMethod,
} from '../adversarial/registry.js';
import type { AttackSetting } from '../adversarial/attack.js';
import { resolveAttack, type ResolvedAttack } from '../adversarial/attack-registry.js';
import { type ThreatSpec } from '../adversarial/threat.js';
import { findDataset } from '../data/registry.js';

/** Where a preset's models are attacked: its dataset, under its threat model. */
export function experimentSetting(p: Preset): AttackSetting {
  const d = findDataset(p.data ?? 'cifar10');
  return { threat: presetThreat(p), images: d.kind === 'image', classes: d.classes.length };
}

/** The preset's threat model: its own, else its dataset's. */
export function presetThreat(p: Preset): ThreatSpec {
  if (p.threat) return p.threat;
  const { norm, eps } = findDataset(p.data ?? 'cifar10').threat;
  return { norm, eps };
}

/**
 * The threat model the methods train under: the preset's, at `trainEps` where it has one (TabularBench trains at L2
 * 0.3 and attacks at 0.5); every model is still evaluated under presetThreat.
 */
export function trainThreat(p: Preset): ThreatSpec {
  const t = presetThreat(p);
  return p.trainEps === undefined ? t : { ...t, eps: p.trainEps };
}

/** One evaluation of every model: an attack (its registry name and options) on the first `limit` test examples. */
export interface EvaluationSpec {
  attack: { name: string } & Record<string, string | number | boolean>;
  /** The first N test examples (null: every one the clean evaluation covers). */
  limit: number | null;
  /** Only the models of these seeds (an expensive attack on one seed per method); absent: every model. */
  seeds?: number[];
}

export interface Preset {
  /** One line for `--help` and the docs (not part of a run folder's plan: the settings below are). */
  summary?: string;
  /** The dataset (default cifar10). */
  data?: string;
  model: string;
  /** The first N training examples (null: all). */
  trainLimit: number | null;
  batch: number;
  /** Natural-equivalent epochs of comparison 1. */
  epochs: number;
  /** Comparison 2's budget of full forward passes per training image (default: `epochs`). */
  budget?: number;
  /** Comparison 1's methods; those in `seeded` run once per seed there (comparison 2 runs the first seed, unless `seededCost`). */
  equalEpochs: string[];
  /** Comparison 2's methods (those not registered are skipped and listed in the report). */
  equalCost: string[];
  seeds: number[];
  seeded: string[];
  /** Comparison 2 runs every seed of the seeded methods too. */
  seededCost?: boolean;
  /** Methods whose runs come after every other run, all seeds (the expensive ones: a stopped preset has the rest). */
  deferred?: string[];
  /** Clean accuracy (and attacks without their own limit) on the first N test examples (null: all). */
  testImages: number | null;
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
  /** The training recipe where it is not CIFAR's (SGD momentum 0.9, multistep at 50% and 75%, weight decay 5e-4). */
  optimizer?: 'sgd' | 'adam';
  schedule?: string;
  weightDecay?: number;
  /** The threat model (default: the dataset's). */
  threat?: ThreatSpec;
  /** The radius the methods train at, where it is not the threat model's (whose radius the evaluation keeps). */
  trainEps?: number;
  /** Options every run of a method takes (FGSM-RS's step on MNIST), by method name. */
  methodOptions?: Record<string, Record<string, string | number | boolean>>;
  /** The evaluation, where it is not PGD-20 plus the APGD settings above. */
  evaluation?: EvaluationSpec[];
}

const EQUAL_COST = ['natural', 'free-8', 'pgd-7', 'fgsm-rs', 'yopo-5-3', 'atta-1', 'trades-10', 'nfgsm'];

/** The MNIST-family presets: Wong et al.'s recipe and evaluation, every step size in proportion to eps. */
function mnistLike(data: string, eps: number, seeds: number[], summary: string): Preset {
  const methods = ['natural', 'fgsm-rs', 'free-4', 'free-8', 'pgd-10'];
  return {
    summary,
    data,
    model: 'mnist-net',
    trainLimit: null,
    batch: 100,
    epochs: 10,
    budget: 20,
    equalEpochs: ['natural', 'free-4', 'free-8', 'pgd-10'],
    equalCost: ['natural', 'fgsm-rs', 'free-4', 'free-8'],
    seeds,
    seeded: methods,
    seededCost: true,
    deferred: ['pgd-10'],
    testImages: null,
    apgdSteps: 0,
    apgdLimit: null,
    apgdChained: false,
    lr: 5e-3,
    optimizer: 'adam',
    schedule: 'cyclic:0.4',
    weightDecay: 0,
    // PGD as their train_mnist.py runs it: examples already misclassified take no further step (without it PGD-10
    // at this learning rate leaves mnist-net at chance, docs/experiments.md).
    methodOptions: {
      'fgsm-rs': { stepSize: 1.25 * eps },
      pgd: { stepSize: (eps * 0.4) / 0.3 / 10, onlyCorrect: true },
    },
    evaluation: [
      { attack: { name: 'pgd', steps: 50, stepSize: eps / 30, restarts: 10, loss: 'ce' }, limit: 1000 },
      { attack: { name: 'autoattack' }, limit: 500, seeds: [seeds[0]] },
    ],
  };
}

/**
 * The tabular presets: an MLP (chosen per dataset by a validation search on natural training, docs/experiments.md),
 * Adam at 1e-3 with a cosine schedule, batch 128, 50 natural-equivalent epochs, under the dataset's L2 eps 0.5
 * (TabularBench's evaluation radius) or its L-inf radius (the largest cube inside that ball); comparison 1 with every
 * seed, comparison 2 (every method that applies to the norm) with the first. Every model is evaluated on the whole test split with PGD-50 (5 restarts)
 * and, for the first seed, AutoAttack (APGD-CE, APGD-T, FAB-T; Square is defined on images only) on `aaLimit`.
 */
function tabular(
  data: string,
  norm: 'l2' | 'linf',
  seeds: number[],
  aaLimit: number | null,
  trainEps?: number,
): Preset {
  const d = findDataset(data);
  const model = d.model;
  const t = [d.threat, ...(d.otherThreats ?? [])].find((x) => x.norm === norm);
  if (!t) throw new Error(`experiment: ${data} declares no ${norm} threat model`);
  const cost =
    norm === 'l2'
      ? ['natural', 'fgsm-rs', 'free-8', 'pgd-5', 'gradnorm']
      : ['natural', 'fgsm-rs', 'free-8', 'pgd-5', 'nfgsm', 'gradalign', 'gradnorm', 'atta-1', 'yopo-5-3', 'trades-10'];
  const size = seeds.length === 1 ? 'one seed' : `${seeds.length} seeds`;
  return {
    summary:
      `${data}, ${norm === 'l2' ? 'L2' : 'L-inf'} eps ${t.eps}` +
      `${trainEps !== undefined ? ` (training at ${trainEps}, as TabularBench trains)` : ''}, ${model}: both comparisons, ${size}`,
    data,
    model,
    trainLimit: null,
    batch: 128,
    epochs: 50,
    equalEpochs: ['natural', 'free-2', 'free-4', 'free-8', 'pgd-5'],
    equalCost: cost,
    seeds,
    seeded: ['natural', 'free-2', 'free-4', 'free-8', 'pgd-5'],
    testImages: null,
    apgdSteps: 0,
    apgdLimit: null,
    apgdChained: false,
    lr: 1e-3,
    optimizer: 'adam',
    schedule: 'cosine',
    weightDecay: 0,
    threat: { norm, eps: t.eps },
    ...(trainEps !== undefined ? { trainEps } : {}),
    evaluation: [
      { attack: { name: 'pgd', steps: 50, stepSize: t.eps / 20, restarts: 5, loss: 'ce' }, limit: null },
      { attack: { name: 'autoattack' }, limit: aaLimit, seeds: [seeds[0]] },
    ],
  };
}

/**
 * Both threat models of a tabular dataset, as presets DATA-l2 and DATA-linf, and TabularBench's protocol as
 * DATA-l2-train0.3: trained at L2 0.3, attacked at 0.5.
 */
const tabularPair = (data: string, seeds: number[], aaLimit: number | null): Record<string, Preset> => ({
  [`${data}-l2`]: tabular(data, 'l2', seeds, aaLimit),
  [`${data}-linf`]: tabular(data, 'linf', seeds, aaLimit),
  [`${data}-l2-train0.3`]: tabular(data, 'l2', seeds, aaLimit, 0.3),
});

/**
 * The main job: a tabular preset cut down to comparison 1 of `methods`, every seed, evaluated by its PGD alone (its
 * AutoAttack is for the first seed only and would double the time).
 */
function mainJob(data: string, norm: 'l2' | 'linf', methods: string[], seeds: number[]): Preset {
  const full = tabular(data, norm, seeds, null);
  return {
    ...full,
    summary: `npm start: ${data}, ${methods.join(' vs ')} at equal epochs, ${seeds.length} seeds, ~3 min`,
    equalEpochs: methods,
    equalCost: [],
    seeded: methods,
    evaluation: full.evaluation!.filter((e) => !e.seeds),
  };
}

export const PRESETS: Record<string, Preset> = {
  // The main job (`npm start`): the paper's point on real data in a few minutes here. credit-g under L2 eps 0.5, as
  // credit-g-l2 trains it: natural training, free-8 (the 50 natural-equivalent epochs divided by 8) and 5-PGD for
  // natural's 50 epochs (6x its passes), 3 seeds each, PGD-50 with 5 restarts on the whole test split.
  'credit-g-quick': mainJob('credit-g', 'l2', ['natural', 'free-8', 'pgd-5'], [0, 1, 2]),
  // CIFAR-10 in miniature (the main job before credit-g-quick): natural and free-4 side by side under one budget,
  // then the same PGD evaluation; both models are weak (96 SGD steps on 1,500 images).
  quick: {
    summary: 'CIFAR-10 in miniature: natural vs free-4 under one budget, ~10 min',
    model: 'wrn-16-1',
    trainLimit: 1500,
    batch: 128,
    epochs: 8,
    equalEpochs: [],
    equalCost: ['natural', 'free-4'],
    seeds: [0],
    seeded: [],
    testImages: 500,
    apgdSteps: 0,
    apgdLimit: null,
    apgdChained: false,
    lr: 0.1,
  },
  // One seed, a small subset and budget: the equal-cost comparison in about an hour here.
  small: {
    summary: 'CIFAR-10, the equal-cost comparison on 2,000 images, ~1 h',
    model: 'wrn-16-1',
    trainLimit: 2000,
    batch: 64,
    epochs: 8,
    equalEpochs: [],
    equalCost: ['natural', 'free-4', 'free-8', 'pgd-7', 'fgsm-rs'],
    seeds: [0],
    seeded: [],
    testImages: 300,
    apgdSteps: 50,
    apgdLimit: 100,
    apgdChained: false,
    lr: 0.1,
  },
  // Both comparisons, 3 seeds of natural, free-8 and 7-PGD in comparison 1, on 2,500 training images with a WRN-10-1
  // at batch 64 (twice the SGD steps of batch 128 for 7% more time here): sized to about 2 hours on this machine,
  // where the 7-PGD runs at equal epochs and the evaluations take most of it (docs/experiments.md, "Why these sizes"). APGD
  // runs as AutoAttack chains it: each attack only on the examples still robust, which is also the strict figure.
  medium: {
    summary: 'CIFAR-10, both comparisons, 3 seeds, ~2.5 h',
    model: 'wrn-10-1',
    trainLimit: 2500,
    batch: 64,
    epochs: 8,
    equalEpochs: ['natural', 'free-2', 'free-4', 'free-8', 'pgd-7'],
    equalCost: EQUAL_COST,
    seeds: [0, 1, 2],
    seeded: ['natural', 'free-8', 'pgd-7'],
    testImages: 1000,
    apgdSteps: 100,
    apgdLimit: 100,
    apgdChained: true,
    lr: 0.1,
  },
  // Seconds, on generated data (no download): the tests, and a first try of a cluster set-up (--executor slurm).
  tiny: {
    summary: 'seconds, generated data: tests, a first try of a cluster',
    data: 'synthetic',
    model: 'wrn-10-1',
    trainLimit: 64,
    batch: 16,
    epochs: 4,
    equalEpochs: [],
    equalCost: ['natural', 'free-2'],
    seeds: [0],
    seeded: [],
    testImages: 32,
    apgdSteps: 0,
    apgdLimit: null,
    apgdChained: false,
    lr: 0.05,
  },
  // MNIST at the published scale, against Wong, Rice and Kolter 2020's released models: their mnist-net and recipe
  // (Adam, cyclic lr to 5e-3 peaking at 2/5, batch 100, no weight decay, eps 0.3, all 60,000 images). Comparison 1:
  // natural's 10 epochs; comparison 2: FGSM-RS's 20 passes (their alpha 0.375, 10 epochs). K-PGD at k = 10 with
  // k·step = 0.4 as Madry's 40 x 0.01 (k = 40 for 10 epochs is ~8 h a seed here). Their evaluation: PGD-50 (step
  // 0.01, 10 restarts) on the first 1,000 test images; AutoAttack on the first 500, for seed 0's models. PGD-10's
  // runs (11 passes a minibatch) come last, after every seed of the others.
  mnist: mnistLike(
    'mnist',
    0.3,
    [0, 1, 2],
    "MNIST at the published scale against Wong et al.'s models, 3 seeds: hours",
  ),
  // Fashion-MNIST: the same recipe and methods at eps 0.1 (steps scaled with eps), one seed.
  'fashion-mnist': mnistLike('fashion-mnist', 0.1, [0], 'Fashion-MNIST, the MNIST recipe at eps 0.1, one seed'),
  // Does free training carry over to tabular data? Five seeds each.
  ...tabularPair('credit-g', [0, 1, 2, 3, 4], null),
  ...tabularPair('spambase', [0, 1, 2, 3, 4], null),
  ...tabularPair('lending-club', [0, 1, 2, 3, 4], null),
  ...tabularPair('letter', [0, 1, 2, 3, 4], 1000),
  // The paper's setting (WRN-34-10, all of CIFAR-10, 200 natural-equivalent epochs, the full test set): a real GPU.
  paper: {
    summary: "the paper's setting, WRN-34-10 on all of CIFAR-10: a real GPU",
    model: 'wrn-34-10',
    trainLimit: 50000,
    batch: 128,
    epochs: 200,
    equalEpochs: ['natural', 'free-2', 'free-4', 'free-8', 'pgd-7'],
    equalCost: EQUAL_COST,
    seeds: [0, 1, 2],
    seeded: ['natural', 'free-8', 'pgd-7'],
    testImages: 10000,
    apgdSteps: 100,
    apgdLimit: null,
    apgdChained: true,
    lr: 0.1,
  },
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

/** A run's method: its short form under the threat model it trains under, with the preset's options for it. */
export function presetMethod(p: Preset, label: string): ResolvedMethod {
  const threat = trainThreat(p);
  const short = parseShortForm(label, threat);
  const own = p.methodOptions?.[short.descriptor.name];
  return own ? resolveMethod({ ...short.config, ...own }, threat) : short;
}

const registered = (p: Preset, label: string): boolean => {
  try {
    findMethod(presetMethod(p, label).descriptor.name);
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
    const method = presetMethod(p, label);
    const id = `${shortForm(method)}-e${epochs}-s${seed}`;
    const r = runs.get(id) ?? { id, label: shortForm(method), method, seed, epochs, comparisons: [] };
    if (!r.comparisons.includes(comparison)) r.comparisons.push(comparison);
    runs.set(id, r);
  };
  const seedsOf = (label: string) => (p.seeded.includes(label) ? p.seeds : [p.seeds[0]]);
  for (const label of p.equalEpochs) {
    if (!registered(p, label)) {
      skipped.push(label);
      continue;
    }
    // Free-m replays each minibatch m times: its natural-equivalent epochs are divided by m (rounded up where they
    // do not divide: the report shows the passes run). K-PGD trains as many epochs as natural training (the paper's
    // comparison), each costing its attack steps too.
    const epochs = Math.ceil(p.epochs / sgdStepsPerBatch(presetMethod(p, label)));
    for (const s of seedsOf(label)) add(label, epochs, s, 1);
  }
  const budget = p.budget ?? p.epochs;
  for (const label of p.equalCost) {
    if (!registered(p, label)) {
      skipped.push(label);
      continue;
    }
    // The budget: full forward passes per training image.
    const perPass = declaredCost(presetMethod(p, label)).forward;
    const epochs = Math.max(1, Math.round(budget / perPass));
    for (const s of p.seededCost ? seedsOf(label) : [p.seeds[0]]) add(label, epochs, s, 2);
  }
  // Other seeds of a comparison-2 run that comparison 1 trains anyway count there too (natural, free-8).
  for (const r of runs.values()) {
    if (r.comparisons.includes(2)) continue;
    if ([...runs.values()].some((o) => o.comparisons.includes(2) && o.label === r.label && o.epochs === r.epochs))
      r.comparisons.push(2);
  }
  const late = (r: RunSpec) => Number(p.deferred?.includes(r.label) ?? false);
  const bySeed = [...runs.values()].sort(
    (a, b) => late(a) - late(b) || p.seeds.indexOf(a.seed) - p.seeds.indexOf(b.seed),
  );
  return { runs: bySeed, skipped: [...new Set(skipped)] };
}

/** One evaluation a run gets: an attack on the first `limit` test examples (null: every evaluated one). */
export interface PlannedAttack {
  attack: ResolvedAttack;
  limit: number | null;
  /** Only the runs of these seeds; absent: every run. */
  seeds?: number[];
}

/** The evaluation every model gets, on the same test examples: the preset's, or PGD-20 and the APGD settings. */
export function attacks(p: Preset, available: readonly string[]): PlannedAttack[] {
  const threat = presetThreat(p);
  if (p.evaluation)
    return p.evaluation.map((e) => ({ attack: resolveAttack(e.attack, threat), limit: e.limit, seeds: e.seeds }));
  const apgdLimit = p.apgdLimit ?? 0;
  const out = [resolveAttack({ name: 'pgd', steps: 20, stepSize: 2 / 255, restarts: 1, loss: 'ce' }, threat)];
  if (p.apgdSteps > 0 && p.apgdChained) {
    if (p.apgdSteps !== 100)
      throw new Error(`experiment: the chained APGD evaluation runs AutoAttack's 100 iterations, not ${p.apgdSteps}`);
    out.push(resolveAttack({ name: 'aa-lite', apgdLimit }, threat));
  } else if (p.apgdSteps > 0) {
    out.push(resolveAttack({ name: 'apgd-ce', apgdSteps: p.apgdSteps, restarts: 1, apgdLimit }, threat));
    if (available.includes('apgd-t')) out.push(resolveAttack({ name: 'apgd-t', apgdLimit }, threat));
  }
  return out.map((attack) => ({ attack, limit: null }));
}
