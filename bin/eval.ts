// `advfree eval`: accuracy of a checkpoint on the test set (BN in eval mode). With --json, stdout carries one
// JSON object and nothing else.
import { writeFileSync } from 'node:fs';
import { init, shutdown } from '../engine/index.js';
import { loadModel, readCheckpointMetadata } from '../nn/checkpoint.js';
import { DATASETS, defaultDataDir, ensureDataset, loadSplit, type DatasetName } from '../nn/data/cifar.js';
import { evaluateClean } from '../nn/evaluate.js';
import { parseArch, WideResNet } from '../nn/wrn.js';
import { CliError, intFlag, type Command } from './args.js';

export const evaluate: Command = {
  name: 'eval',
  summary: 'evaluate a checkpoint on the test set',
  flags: {
    checkpoint: { type: 'string', help: 'model.safetensors written by advfree train (required)' },
    data: { type: 'string', help: `dataset: ${Object.keys(DATASETS).join(', ')}`, default: 'cifar10', check: (v) => {
      if (!(v in DATASETS)) throw new CliError(`--data must be one of ${Object.keys(DATASETS).join(', ')}, got '${v}'`);
    } },
    'data-dir': { type: 'string', help: 'dataset cache folder (env ADVFREE_DATA; default ~/.cache/advfree)' },
    limit: { type: 'string', help: 'evaluate the first N test images (default: all)', check: intFlag('limit', 1) },
    batch: { type: 'string', help: 'batch size', default: '256', check: intFlag('batch', 1, 4096) },
    json: { type: 'boolean', help: 'print one JSON object on stdout' },
    'save-predictions': { type: 'string', help: 'write one JSON line per example to this file' },
  },
  async run(flags) {
    const path = flags.checkpoint as string | undefined;
    if (!path) throw new CliError('eval: --checkpoint FILE is required');
    const meta = await readCheckpointMetadata(path);
    const data = flags.data as DatasetName;
    const arch = parseArch(meta.architecture ?? '', Number(meta.classes ?? DATASETS[data].classes));
    if (arch.classes !== DATASETS[data].classes) {
      throw new CliError(`eval: ${path} has ${arch.classes} classes but ${data} has ${DATASETS[data].classes}`);
    }
    const say = (m: string) => console.error(m);
    const r = await init({ backend: flags.backend as string | undefined, adapter: flags.adapter as string | undefined });
    const dir = await ensureDataset(data, { dataDir: (flags['data-dir'] as string | undefined) ?? defaultDataDir(), log: say });
    const limit = flags.limit ? Number(flags.limit) : undefined;
    const test = loadSplit(dir, data, 'test', limit);
    const model = new WideResNet(arch);
    await loadModel(model, path);
    const t0 = performance.now();
    const res = await evaluateClean(model, test, Number(flags.batch));
    const seconds = (performance.now() - t0) / 1000;
    const report = {
      checkpoint: path,
      arch: meta.architecture,
      dataset: data,
      examples: res.examples,
      limited: limit !== undefined && limit < DATASETS[data].files.filter((f) => f.split === 'test').reduce((n, f) => n + f.records, 0),
      clean_accuracy: res.correct / res.examples,
      robust_accuracy: null,
      attacks: [],
      adapter: r.gpu.name,
      seconds,
    };
    if (flags['save-predictions']) {
      const lines = Array.from(res.predictions, (p, i) => JSON.stringify({ index: i, label: test.labels[i], clean_pred: p }));
      writeFileSync(flags['save-predictions'] as string, `${lines.join('\n')}\n`);
    }
    if (flags.json) console.log(JSON.stringify(report));
    else {
      console.log(`${path} (${meta.architecture}) on ${data} test, ${res.examples} images${limit ? ` (first ${res.examples}, --limit)` : ''}:`);
      console.log(`  clean accuracy ${(report.clean_accuracy * 100).toFixed(2)}%  (${seconds.toFixed(1)} s on ${r.gpu.name})`);
    }
    model.dispose();
    shutdown();
    return 0;
  },
};
