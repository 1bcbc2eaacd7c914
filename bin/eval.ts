// `advfree eval`: clean and robust accuracy of a checkpoint on the test set, BN in eval mode. With --json,
// stdout carries one JSON object and nothing else.
import { init, shutdown } from '../engine/index.js';
import { ATTACKS, evaluateRobust, SQUARE_QUERIES, type AttackName, type AttackSpec, type RobustReport } from '../adversarial/evaluate.js';
import { fmtPixels, parsePixels } from '../adversarial/units.js';
import { describeRecorded } from '../adversarial/registry.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { buildCheckpointModel, openCheckpoint, type OpenedCheckpoint } from '../nn/checkpoint-reader.js';
import { DATASET_NAMES, defaultDataDir, findDataset, loadDataset, type SplitData } from '../data/index.js';
import { fmtNormalization, InputNormalization, parseNormalization, type Normalization } from '../nn/normalize.js';
import { checkModelName, MODEL_PATTERNS } from '../nn/registry.js';
import { CliError, intFlag, oneOf, parsedBy, type Command, type Flags } from './args.js';
import { attackEntries, attackLines } from './eval-report.js';
import { checkInputFile, checkOutputFile } from './files.js';

const pixels = (flag: string) => parsedBy((v) => parsePixels(flag, v));

export const EVAL_FLAGS: Command['flags'] = {
  attack: { type: 'string', help: `comma-separated attacks: ${ATTACKS.join(', ')}; autoattack = AutoAttack's standard suite (APGD-CE, APGD-T, FAB-T, Square, each on the survivors of the previous), aa-lite = APGD-CE + APGD-T only (default: none, clean accuracy only)`, check: (v) => {
    for (const a of v.split(',')) if (!(ATTACKS as readonly string[]).includes(a.trim())) throw new CliError(`--attack: unknown attack '${a}'; attacks: ${ATTACKS.join(', ')}`);
  } },
  eps: { type: 'string', help: 'L-inf radius', default: '8/255', check: pixels('eps') },
  steps: { type: 'string', help: 'pgd steps', default: '20', check: intFlag('steps', 1, 10_000) },
  'step-size': { type: 'string', help: 'pgd step size', default: '2/255', check: pixels('step-size') },
  restarts: { type: 'string', help: 'pgd / apgd-ce random restarts (per-example worst case kept)', default: '1', check: intFlag('restarts', 1, 100) },
  loss: { type: 'string', help: "pgd / fgsm loss: 'ce' or 'cw' (margin)", default: 'ce', check: (v) => {
    if (v !== 'ce' && v !== 'cw') throw new CliError(`--loss must be 'ce' or 'cw', got '${v}'`);
  } },
  'apgd-steps': { type: 'string', help: 'apgd-ce / apgd-dlr iterations (autoattack always runs 100)', default: '100', check: intFlag('apgd-steps', 1, 10_000) },
  'apgd-limit': { type: 'string', help: 'run apgd-ce / apgd-dlr on the first N evaluated images only', check: intFlag('apgd-limit', 1) },
  queries: { type: 'string', help: 'square (and the square stage of autoattack) query budget per image', default: String(SQUARE_QUERIES), check: intFlag('queries', 1, 1_000_000) },
  seed: { type: 'string', help: 'seed of the random starts', default: '0', check: intFlag('seed', 0, 2 ** 31 - 1) },
};

export function attackSpecs(flags: Flags): AttackSpec[] {
  const names = flags.attack ? (flags.attack as string).split(',').map((a) => a.trim() as AttackName) : [];
  const apgd = (name: AttackName) => name === 'apgd-ce' || name === 'apgd-dlr';
  return names.map((name) => ({
    name,
    eps: parsePixels('eps', flags.eps as string),
    steps: apgd(name) ? Number(flags['apgd-steps']) : name === 'fgsm' ? 1 : Number(flags.steps),
    stepSize: parsePixels('step-size', flags['step-size'] as string),
    restarts: Number(flags.restarts),
    loss: flags.loss as 'ce' | 'cw',
    queries: Number(flags.queries ?? SQUARE_QUERIES),
    limit: apgd(name) && flags['apgd-limit'] ? Number(flags['apgd-limit']) : null,
  }));
}

/** Test examples [offset, count) of a split loaded from its start (a limit reads a prefix). */
export function testExamples(split: SplitData, offset: number): SplitData {
  const per = split.shape.reduce((a, d) => a * d, 1);
  return { ...split, x: split.x.subarray(offset * per), y: split.y.subarray(offset), count: split.count - offset };
}

export interface EvalOptions {
  specs: AttackSpec[];
  batch: number;
  seed: number;
  dataset: string;
  /** Index of the first test image evaluated, and the size of the full test set. */
  offset: number;
  testSize: number;
  normalization: Normalization | null;
}

export type EvalReport = ReturnType<typeof buildReport>;

function buildReport(ckpt: OpenedCheckpoint, o: EvalOptions, res: RobustReport, adapter: string) {
  return {
    checkpoint: ckpt.path,
    architecture: ckpt.model.name,
    architecture_from: ckpt.architectureFrom,
    classes: ckpt.model.classes,
    method: ckpt.metadata.method ?? null,
    normalization: o.normalization ?? ckpt.metadata.normalization ?? null,
    dataset: o.dataset,
    offset: o.offset,
    examples: res.examples,
    /** True when the figures are on a subset of the test set, not a final figure. */
    limited: res.examples < o.testSize,
    clean_accuracy: res.cleanCorrect / res.examples,
    robust_accuracy: o.specs.length ? res.robustCorrect / res.examples : null,
    attacks: attackEntries(res),
    passes: res.passes,
    adapter,
    seconds: res.seconds,
    warnings: ckpt.warnings,
  };
}

/** Evaluates an opened checkpoint on `test` (already the chosen images); the model is built, used and freed here. */
export async function evaluateCheckpoint(ckpt: OpenedCheckpoint, test: SplitData, o: EvalOptions, adapter: string,
  progress?: (done: number, total: number) => void): Promise<{ report: EvalReport; predictions: string[] }> {
  const model = buildCheckpointModel(ckpt);
  try {
    if (o.normalization) model.normalization = new InputNormalization(o.normalization);
    const res = await evaluateRobust(model, test, o.specs, o.batch, o.seed, progress);
    const predictions = Array.from(res.predictions.clean, (p, i) =>
      JSON.stringify({ index: o.offset + i, label: test.y[i], clean_pred: p, ...(res.predictions.adv ? { adv_pred: res.predictions.adv[i] } : {}) }));
    return { report: buildReport(ckpt, o, res, adapter), predictions };
  } finally {
    model.dispose();
  }
}

/** The report for people. */
export function formatReport(r: EvalReport): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const methodText = describeRecorded(r.method ?? undefined);
  const subset = r.limited ? ` (images ${r.offset}..${r.offset + r.examples - 1}: a subset, not a final figure)` : '';
  const norm = r.normalization && typeof r.normalization === 'object' ? `, inputs normalised ${fmtNormalization(r.normalization)}` : '';
  const lines = [`${r.checkpoint} (${r.architecture}, ${methodText}) on ${r.dataset} test, ${r.examples} images${subset}, BN in eval mode${norm}:`];
  lines.push(`  clean accuracy   ${pct(r.clean_accuracy)}`);
  lines.push(...attackLines(r.attacks));
  if (r.robust_accuracy !== null) lines.push(`  robust accuracy  ${pct(r.robust_accuracy)} (correct clean and under every attack run on the image; eps ${fmtPixels(r.attacks[0].eps)})`);
  lines.push(`  ${r.passes.forward} forward, ${r.passes.backwardInputOnly} input-gradient passes, ${r.seconds.toFixed(1)} s on ${r.adapter}`);
  return lines.join('\n');
}

export const evaluate: Command = {
  name: 'eval',
  summary: 'evaluate a checkpoint on the test set: clean accuracy, and robust accuracy under attacks',
  flags: {
    checkpoint: { type: 'string', help: "model.safetensors written by advfree train, or a registered model's reference state_dict (required)" },
    model: { type: 'string', help: `${MODEL_PATTERNS}: the architecture, over the metadata (default: the metadata, else the tensor shapes)`, check: parsedBy(checkModelName) },
    normalize: { type: 'string', help: 'MEAN,STD or 3 means then 3 stds: the model expects (x-mean)/std; applied inside it, attacks stay in [0,1]', check: parsedBy((v) => parseNormalization('normalize', v)) },
    data: { type: 'string', help: `dataset: ${DATASET_NAMES.join(', ')} (default: the checkpoint's, else cifar10)`, check: oneOf('data', DATASET_NAMES) },
    'data-dir': { type: 'string', help: 'dataset cache folder (env ADVFREE_DATA; default ~/.cache/advfree)' },
    limit: { type: 'string', help: 'evaluate N test images (default: all; a subset is not a final figure)', check: intFlag('limit', 1) },
    offset: { type: 'string', help: 'index of the first test image evaluated', default: '0', check: intFlag('offset', 0) },
    batch: { type: 'string', help: 'batch size', default: '256', check: intFlag('batch', 1, 4096) },
    json: { type: 'boolean', help: 'print one JSON object on stdout (and nothing else there)' },
    'save-predictions': { type: 'string', help: 'write one JSON line per example (index, label, clean_pred, adv_pred) to this new file' },
    force: { type: 'boolean', help: 'let --save-predictions replace an existing file (never the checkpoint)' },
    ...EVAL_FLAGS,
  },
  async run(flags) {
    const path = flags.checkpoint as string | undefined;
    if (!path) throw new CliError('eval: --checkpoint FILE is required');
    checkInputFile('eval', '--checkpoint', path);
    const specs = attackSpecs(flags);
    const out = flags['save-predictions'] as string | undefined;
    const checkOut = () => out && checkOutputFile('eval', '--save-predictions', out, { inputs: [path], force: !!flags.force });
    checkOut();
    const normalization = flags.normalize ? parseNormalization('normalize', flags.normalize as string) : null;
    // Every tensor is checked against the architecture here, before the GPU or the dataset is touched.
    const ckpt = await openCheckpoint(path, { model: flags.model as string | undefined, data: flags.data as string | undefined });
    const dataset = findDataset((flags.data as string | undefined) ?? ckpt.metadata.dataset ?? 'cifar10');
    const data = dataset.name;
    if (ckpt.metadata.dataset !== undefined && ckpt.metadata.dataset !== data) ckpt.warnings.push(`metadata 'dataset' is '${ckpt.metadata.dataset}', evaluating on ${data}`);
    for (const w of ckpt.warnings) console.error(`eval: ${path}: warning: ${w}`);
    if (ckpt.model.classes !== dataset.classes.length) throw new CliError(`eval: ${path} has ${ckpt.model.classes} classes but ${data} has ${dataset.classes.length}`);
    if (ckpt.model.input.join(',') !== dataset.shape.join(',')) {
      throw new CliError(`eval: ${path} takes inputs of shape [${ckpt.model.input.join(', ')}] but ${data}'s are [${dataset.shape.join(', ')}]`);
    }
    const testSize = dataset.rows.test;
    const offset = Number(flags.offset);
    if (offset >= testSize) throw new CliError(`eval: --offset ${offset} is past the ${testSize} test images of ${data}`);
    const limit = flags.limit ? Number(flags.limit) : undefined;

    const r = await init({ backend: flags.backend as string | undefined, adapter: flags.adapter as string | undefined });
    const loaded = await loadDataset(dataset, {
      dataDir: (flags['data-dir'] as string | undefined) ?? defaultDataDir(), log: (m) => console.error(m),
      testLimit: limit === undefined ? undefined : offset + limit, recorded: ckpt.metadata,
    });
    const test = testExamples(loaded.test, offset);
    const { report, predictions } = await evaluateCheckpoint(ckpt, test, { specs, batch: Number(flags.batch), seed: Number(flags.seed), dataset: data, offset, testSize, normalization },
      r.gpu.name, (done, total) => {
        if (specs.length) console.error(`eval: ${done}/${total} images`);
      });
    shutdown();
    // The results are printed whatever happens to the predictions file; its error, if any, comes after them.
    let writeError: Error | null = null;
    if (out) {
      try {
        checkOut();
        await writeFileAtomic(out, `${predictions.join('\n')}\n`);
      } catch (e) {
        writeError = new Error(`eval: could not write --save-predictions ${out}: ${(e as Error).message}`, { cause: e });
      }
    }
    if (flags.json) console.log(JSON.stringify(report));
    else {
      let text: string;
      try {
        text = formatReport(report);
      } catch (e) {
        console.error(`eval: could not format the report (${(e as Error).message}); the results as JSON:`);
        text = JSON.stringify(report);
      }
      console.log(text);
    }
    if (writeError) throw writeError;
    return 0;
  },
};
