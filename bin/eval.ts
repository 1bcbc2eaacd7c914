// `advfree eval`: clean and robust accuracy of a checkpoint on the test set, BN in eval mode. With --json,
// stdout carries one JSON object and nothing else.
import { writeFileSync } from 'node:fs';
import { init, shutdown } from '../engine/index.js';
import { ATTACKS, evaluateRobust, type AttackName, type AttackSpec } from '../adversarial/evaluate.js';
import { fmtPixels, parsePixels } from '../adversarial/units.js';
import { describeRecorded } from '../adversarial/registry.js';
import { loadModel, readCheckpointMetadata } from '../nn/checkpoint.js';
import { DATASETS, defaultDataDir, ensureDataset, loadSplit, type DatasetName } from '../nn/data/cifar.js';
import { parseArch, WideResNet } from '../nn/wrn.js';
import { CliError, intFlag, oneOf, parsedBy, type Command, type Flags } from '../train/args.js';

const pixels = (flag: string) => parsedBy((v) => parsePixels(flag, v));

export const EVAL_FLAGS: Command['flags'] = {
  attack: { type: 'string', help: `comma-separated attacks: ${ATTACKS.join(', ')} (default: none, clean accuracy only)`, check: (v) => {
    for (const a of v.split(',')) if (!(ATTACKS as readonly string[]).includes(a.trim())) throw new CliError(`--attack: unknown attack '${a}'; attacks: ${ATTACKS.join(', ')}`);
  } },
  eps: { type: 'string', help: 'L-inf radius', default: '8/255', check: pixels('eps') },
  steps: { type: 'string', help: 'pgd steps', default: '20', check: intFlag('steps', 1, 10_000) },
  'step-size': { type: 'string', help: 'pgd step size', default: '2/255', check: pixels('step-size') },
  restarts: { type: 'string', help: 'pgd / apgd-ce random restarts (per-example worst case kept)', default: '1', check: intFlag('restarts', 1, 100) },
  loss: { type: 'string', help: "pgd / fgsm loss: 'ce' or 'cw' (margin)", default: 'ce', check: (v) => {
    if (v !== 'ce' && v !== 'cw') throw new CliError(`--loss must be 'ce' or 'cw', got '${v}'`);
  } },
  'apgd-steps': { type: 'string', help: 'apgd-ce iterations', default: '100', check: intFlag('apgd-steps', 1, 10_000) },
  'apgd-limit': { type: 'string', help: 'run apgd-ce on the first N evaluated images only', check: intFlag('apgd-limit', 1) },
  seed: { type: 'string', help: 'seed of the random starts', default: '0', check: intFlag('seed', 0, 2 ** 31 - 1) },
};

export function attackSpecs(flags: Flags): AttackSpec[] {
  const names = flags.attack ? (flags.attack as string).split(',').map((a) => a.trim() as AttackName) : [];
  return names.map((name) => ({
    name,
    eps: parsePixels('eps', flags.eps as string),
    steps: name === 'apgd-ce' ? Number(flags['apgd-steps']) : name === 'fgsm' ? 1 : Number(flags.steps),
    stepSize: parsePixels('step-size', flags['step-size'] as string),
    restarts: Number(flags.restarts),
    loss: flags.loss as 'ce' | 'cw',
    limit: name === 'apgd-ce' && flags['apgd-limit'] ? Number(flags['apgd-limit']) : null,
  }));
}

export const evaluate: Command = {
  name: 'eval',
  summary: 'evaluate a checkpoint on the test set: clean accuracy, and robust accuracy under attacks',
  flags: {
    checkpoint: { type: 'string', help: 'model.safetensors written by advfree train (required)' },
    data: { type: 'string', help: `dataset: ${Object.keys(DATASETS).join(', ')}`, default: 'cifar10', check: oneOf('data', Object.keys(DATASETS)) },
    'data-dir': { type: 'string', help: 'dataset cache folder (env ADVFREE_DATA; default ~/.cache/advfree)' },
    limit: { type: 'string', help: 'evaluate the first N test images (default: all)', check: intFlag('limit', 1) },
    batch: { type: 'string', help: 'batch size', default: '256', check: intFlag('batch', 1, 4096) },
    json: { type: 'boolean', help: 'print one JSON object on stdout (and nothing else there)' },
    'save-predictions': { type: 'string', help: 'write one JSON line per example (index, label, clean_pred, adv_pred) to this file' },
    ...EVAL_FLAGS,
  },
  async run(flags) {
    const path = flags.checkpoint as string | undefined;
    if (!path) throw new CliError('eval: --checkpoint FILE is required');
    const specs = attackSpecs(flags);
    const meta = await readCheckpointMetadata(path);
    const data = flags.data as DatasetName;
    const arch = parseArch(meta.architecture ?? '', Number(meta.classes ?? DATASETS[data].classes));
    if (arch.classes !== DATASETS[data].classes) throw new CliError(`eval: ${path} has ${arch.classes} classes but ${data} has ${DATASETS[data].classes}`);
    const r = await init({ backend: flags.backend as string | undefined, adapter: flags.adapter as string | undefined });
    const dir = await ensureDataset(data, { dataDir: (flags['data-dir'] as string | undefined) ?? defaultDataDir(), log: (m) => console.error(m) });
    const limit = flags.limit ? Number(flags.limit) : undefined;
    const test = loadSplit(dir, data, 'test', limit);
    const model = new WideResNet(arch);
    await loadModel(model, path);
    const res = await evaluateRobust(model, test, specs, Number(flags.batch), Number(flags.seed), (done, total) => {
      if (specs.length) console.error(`eval: ${done}/${total} images`);
    });
    const total = DATASETS[data].files.filter((f) => f.split === 'test').reduce((n, f) => n + f.records, 0);
    const report = {
      checkpoint: path,
      architecture: meta.architecture,
      method: meta.method,
      dataset: data,
      examples: res.examples,
      limited: res.examples < total,
      clean_accuracy: res.cleanCorrect / res.examples,
      robust_accuracy: specs.length ? res.robustCorrect / res.examples : null,
      attacks: res.attacks.map((a) => ({ attack: a.spec.name, description: a.description, examples: a.examples, accuracy: a.correct / a.examples, ...a.spec })),
      passes: res.passes,
      adapter: r.gpu.name,
      seconds: res.seconds,
    };
    if (flags['save-predictions']) {
      const lines = Array.from(res.predictions.clean, (p, i) =>
        JSON.stringify({ index: i, label: test.labels[i], clean_pred: p, ...(res.predictions.adv ? { adv_pred: res.predictions.adv[i] } : {}) }));
      writeFileSync(flags['save-predictions'] as string, `${lines.join('\n')}\n`);
    }
    if (flags.json) console.log(JSON.stringify(report));
    else {
      const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
      console.log(`${path} (${meta.architecture}, ${describeRecorded(meta.method)}) on ${data} test, ${res.examples} images${report.limited ? ' (--limit)' : ''}, BN in eval mode:`);
      console.log(`  clean accuracy   ${pct(report.clean_accuracy)}`);
      for (const a of report.attacks) console.log(`  ${a.description}: ${pct(a.accuracy)} of ${a.examples}`);
      if (specs.length) console.log(`  robust accuracy  ${pct(report.robust_accuracy!)} (correct clean and under every attack run on the image; eps ${fmtPixels(specs[0].eps)})`);
      console.log(`  ${res.passes.forward} forward, ${res.passes.backwardInputOnly} input-gradient passes, ${res.seconds.toFixed(1)} s on ${r.gpu.name}`);
    }
    model.dispose();
    shutdown();
    return 0;
  },
};
