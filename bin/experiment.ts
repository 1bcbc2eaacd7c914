// `advfree experiment`: the paper's claim on this machine. Natural, free-m, K-PGD and FGSM-RS train the same
// model on the same data with the same augmentation and optimizer under one equal budget of forward+backward
// passes per training image; each is then evaluated with PGD-20 (and APGD-CE on a subset); a markdown table and a
// JSON file compare them. Each finished method leaves OUT/<method>/result.json, so a rerun skips it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { init, shutdown } from '../engine/index.js';
import { evaluateRobust, type AttackSpec } from '../adversarial/evaluate.js';
import { declaredCost, METHODS, parseShortForm, shortForm, shortPattern, type ResolvedMethod } from '../adversarial/registry.js';
import { OptionError } from '../adversarial/options.js';
import { fmtPixels } from '../adversarial/units.js';
import { gitCommit } from '../nn/checkpoint.js';
import { defaultDataDir } from '../nn/data/cifar.js';
import { Trainer, type RunConfig } from '../train/trainer.js';
import { parseArch } from '../nn/wrn.js';
import { CliError, intFlag, numFlag, oneOf, type Command } from '../train/args.js';
import { loadData } from './train.js';

interface Entry {
  label: string;
  method: ResolvedMethod;
  /** Full forward passes per training image per pass over the data, as the method declares them. */
  cost: number;
}

const EPS = 8 / 255;

/** Methods by their registry short forms (free-8, pgd-7, ...), each at eps 8/255. */
function entries(names: string[]): Entry[] {
  return names.map((n): Entry => {
    let method: ResolvedMethod;
    try {
      method = parseShortForm(n);
    } catch (e) {
      throw e instanceof OptionError ? new CliError(`--methods: ${e.message}`) : e;
    }
    return { label: shortForm(method), method, cost: declaredCost(method).forward };
  });
}

const PRESETS = {
  // About an hour on lavapipe with 2 cores.
  small: { model: 'wrn-16-1', 'train-limit': '2000', budget: '8', batch: '64', 'test-limit': '300', 'apgd-limit': '100', 'apgd-steps': '50' },
  // The paper's setting, for a machine with a real GPU: WRN-34-10 (the paper's "WRN-32-10"), all of CIFAR-10,
  // 200 passes per image (free-8: 25 passes over the data), the full test set.
  paper: { model: 'wrn-34-10', 'train-limit': '50000', budget: '200', batch: '128', 'test-limit': '10000', 'apgd-limit': '1000', 'apgd-steps': '100' },
};

export const experiment: Command = {
  name: 'experiment',
  summary: 'natural vs free-m vs K-PGD vs FGSM-RS under one pass budget, evaluated with PGD-20 and APGD-CE',
  flags: {
    preset: { type: 'string', help: "'small' (about an hour here) or 'paper' (WRN-34-10, full schedule; a real GPU); flags below override", default: 'small', check: oneOf('preset', Object.keys(PRESETS)) },
    methods: { type: 'string', help: `methods to compare, by short form: ${METHODS.map(shortPattern).join(', ')}`, default: 'natural,free-4,free-8,pgd-7,fgsm-rs' },
    budget: { type: 'string', help: 'forward+backward passes per training image, equal for every method', check: intFlag('budget', 1) },
    model: { type: 'string', help: 'wrn-DEPTH-WIDTH' },
    'train-limit': { type: 'string', help: 'first N training images', check: intFlag('train-limit', 1) },
    batch: { type: 'string', help: 'minibatch size', check: intFlag('batch', 2, 4096) },
    lr: { type: 'string', help: 'peak learning rate (multistep schedule over SGD iterations)', default: '0.1', check: numFlag('lr', 1e-6, 10) },
    'test-limit': { type: 'string', help: 'evaluate on the first N test images', check: intFlag('test-limit', 1) },
    'apgd-limit': { type: 'string', help: 'APGD-CE on the first N of them', check: intFlag('apgd-limit', 0) },
    'apgd-steps': { type: 'string', help: 'APGD-CE iterations', check: intFlag('apgd-steps', 1) },
    seed: { type: 'string', help: 'seed', default: '0', check: intFlag('seed', 0, 2 ** 31 - 1) },
    out: { type: 'string', help: 'output folder (one run folder per method, experiment.md, experiment.json)', default: 'runs/experiment' },
    'data-dir': { type: 'string', help: 'dataset cache folder' },
  },
  async run(flags) {
    const o = { ...PRESETS[flags.preset as keyof typeof PRESETS], ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) } as Record<string, string>;
    parseArch(o.model);
    const budget = Number(o.budget);
    const list = entries((o.methods as string).split(',').map((s) => s.trim()));
    for (const e of list) {
      if (budget % e.cost !== 0) throw new CliError(`--budget ${budget} is not a multiple of ${e.label}'s ${e.cost} passes per image; pick a multiple of every method's cost`);
    }
    const out = o.out;
    mkdirSync(out, { recursive: true });
    const r = await init({ backend: flags.backend as string | undefined, adapter: flags.adapter as string | undefined });
    const dataDir = o['data-dir'] ?? defaultDataDir();
    const attacks: AttackSpec[] = [
      { name: 'pgd', eps: EPS, steps: 20, stepSize: 2 / 255, restarts: 1, loss: 'ce', limit: null },
      ...(Number(o['apgd-limit']) > 0 ? [{ name: 'apgd-ce' as const, eps: EPS, steps: Number(o['apgd-steps']), stepSize: 0, restarts: 1, loss: 'ce' as const, limit: Number(o['apgd-limit']) }] : []),
    ];
    const results: Record<string, unknown>[] = [];
    for (const e of list) {
      const dir = join(out, e.label);
      const resultFile = join(dir, 'result.json');
      if (existsSync(resultFile)) {
        console.error(`experiment: ${e.label} already done (${resultFile})`);
        results.push(JSON.parse(readFileSync(resultFile, 'utf8')));
        continue;
      }
      const config: RunConfig = {
        data: 'cifar10', model: o.model, classes: 10,
        // A pass over the data costs `cost` passes per image (free-m: m replays; K-PGD: K attack steps + 1).
        epochs: budget / e.cost, batch: Number(o.batch), lr: Number(o.lr), schedule: 'multistep', momentum: 0.9,
        nesterov: false, weightDecay: 5e-4, decay: 'all', seed: Number(o.seed), augment: true,
        trainLimit: Number(o['train-limit']), testLimit: Number(o['test-limit']), method: e.method.config, normalization: 'none',
        checkpointMinutes: 10, logEvery: 50,
      };
      console.error(`experiment: ${e.label}: ${config.epochs} passes over ${config.trainLimit} images (${budget} forward+backward passes per image)`);
      const trainer = new Trainer(config, await loadData(config, dataDir));
      const t0 = performance.now();
      await trainer.run({ out: dir });
      const trainSeconds = (performance.now() - t0) / 1000;
      const ev = await evaluateRobust(trainer.model, trainer.data.test, attacks, 100, Number(o.seed));
      const res = {
        method: e.label,
        config: e.method.config,
        passes_over_data: config.epochs,
        train_passes: trainer.totalPasses,
        train_seconds: trainSeconds,
        clean_accuracy: ev.cleanCorrect / ev.examples,
        examples: ev.examples,
        attacks: ev.attacks.map((a) => ({ description: a.description, examples: a.examples, accuracy: a.correct / a.examples })),
        robust_accuracy: ev.robustCorrect / ev.examples,
        eval_seconds: ev.seconds,
      };
      writeFileSync(resultFile, `${JSON.stringify(res, null, 2)}\n`);
      results.push(res);
      console.error(`experiment: ${e.label}: clean ${(res.clean_accuracy * 100).toFixed(1)}%, ${res.attacks.map((a) => `${a.description} ${(a.accuracy * 100).toFixed(1)}%`).join(', ')}`);
      trainer.dispose();
    }
    const header = {
      date: new Date().toISOString().slice(0, 10),
      adapter: r.gpu.name,
      commit: gitCommit(),
      model: o.model,
      train_images: Number(o['train-limit']),
      batch: Number(o.batch),
      budget_passes_per_image: budget,
      test_images: Number(o['test-limit']),
      eps: fmtPixels(EPS),
    };
    writeFileSync(join(out, 'experiment.json'), `${JSON.stringify({ ...header, results }, null, 2)}\n`);
    const md = table(header, results as unknown as Result[]);
    writeFileSync(join(out, 'experiment.md'), md);
    console.log(md);
    shutdown();
    return 0;
  },
};

interface Result {
  method: string;
  passes_over_data: number;
  train_passes: { forward: number; backwardWeights: number; backwardInputOnly: number; sgdSteps: number };
  train_seconds: number;
  clean_accuracy: number;
  attacks: { description: string; examples: number; accuracy: number }[];
}

function table(h: Record<string, string | number>, rs: Result[]): string {
  const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
  const natural = rs.find((x) => x.method === 'natural')?.train_seconds ?? rs[0].train_seconds;
  const rows = rs.map((x) => {
    const p = x.train_passes;
    return `| ${x.method} | ${x.passes_over_data} | ${pct(x.clean_accuracy)} | ${pct(x.attacks[0]?.accuracy)} | ${pct(x.attacks[1]?.accuracy)} | ${p.forward} / ${p.backwardWeights} / ${p.backwardInputOnly} | ${p.sgdSteps} | ${(x.train_seconds / 60).toFixed(1)} min | ${(x.train_seconds / natural).toFixed(2)}x |`;
  });
  const attackNames = rs[0].attacks.map((a) => a.description).join('; ');
  return [
    `Experiment of ${h.date}, commit ${h.commit}, on ${h.adapter}.`,
    `${h.model}, ${h.train_images} CIFAR-10 training images, batch ${h.batch}, SGD momentum 0.9, lr multistep, weight decay 5e-4,`,
    `pad-4 crop + flip; every method gets ${h.budget_passes_per_image} forward+backward passes per training image; eps ${h.eps};`,
    `evaluated on the first ${h.test_images} test images, BN in eval mode: ${attackNames}.`,
    '',
    '| method | passes over data | clean | PGD-20 | APGD-CE | forward / backward (weights) / backward (input only) | SGD steps | train time | cost vs natural |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
