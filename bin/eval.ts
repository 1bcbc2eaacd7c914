// `advfree eval`: clean and robust accuracy of a checkpoint on the test set, BN in eval mode. With --json,
// stdout carries one JSON object and nothing else.
import { init, shutdown } from '../engine/index.js';
import { ATTACKS, resolveAttack, unsupported, type ResolvedAttack } from '../adversarial/attack-registry.js';
import { evaluateRobust, inEvalMode, splitSource, type RobustReport } from '../adversarial/evaluate.js';
import { describeThreat, ThreatError, ThreatModel, type ThreatSpec } from '../adversarial/threat.js';
import { OptionError } from '../adversarial/options.js';
import { describeRecorded } from '../adversarial/registry.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { buildCheckpointModel, openCheckpoint, type OpenedCheckpoint } from '../nn/checkpoint-reader.js';
import {
  DATASET_NAMES,
  defaultDataDir,
  findDataset,
  loadDataset,
  type FeatureBox,
  type SplitData,
} from '../data/index.js';
import { fmtNormalization, InputNormalization, parseNormalization, type Normalization } from '../nn/normalize.js';
import { checkModelName, MODEL_PATTERNS } from '../nn/registry.js';
import { checkedBy, CliError, command, intFlag, oneOf, type FlagSet } from './args.js';
import { attackLines, evalAttackEntries } from './eval-report.js';
import { checkInputFile, checkOutputFile } from './files.js';
import { givenOptionFlags, givenOptions, optionFlags, optionIndex } from './option-flags.js';
import { THREAT_FLAGS, threatFromFlags, type ThreatFlags } from './threat-flags.js';

const INDEX = optionIndex(ATTACKS);

/** The attacks of a comma-separated list, by name. */
function parseAttacks(v: string): string[] {
  const names = v.split(',').map((a) => a.trim());
  for (const a of names)
    if (!ATTACKS.some((d) => d.name === a))
      throw new CliError(`--attack: unknown attack '${a}'; attacks: ${ATTACKS.map((d) => d.name).join(', ')}`);
  return names;
}

/** eval's attack flags, from the attack registry: --attack, the threat model, every attack option, --seed. */
export const EVAL_FLAGS = {
  attack: {
    type: 'string',
    help: `comma-separated attacks, each on every example (default: none, clean accuracy only): ${ATTACKS.map((a) => `${a.name} (${a.summary})`).join('; ')}`,
    parse: parseAttacks,
  },
  ...THREAT_FLAGS,
  ...optionFlags(INDEX),
  seed: { type: 'string', help: 'seed of the random starts', default: '0', parse: intFlag('seed', 0, 2 ** 31 - 1) },
} satisfies FlagSet;

/** What attackSpecs reads: the attacks, the threat model's flags and (dynamically) the attack options' flags. */
export type AttackFlags = { attack?: string[] } & ThreatFlags;

/**
 * The attacks of --attack with their options from the flags, under the flags' threat model (--data's default,
 * else CIFAR's, until the dataset is known); an option flag that no chosen attack takes is refused, naming the
 * attacks that do.
 */
export function attackSpecs(flags: AttackFlags, threat: ThreatSpec = threatFromFlags(flags)): ResolvedAttack[] {
  const chosen = (flags.attack ?? []).map((name) => ATTACKS.find((d) => d.name === name)!);
  for (const flag of givenOptionFlags(INDEX, flags)) {
    const takers = INDEX.get(flag)!.uses.map(([name]) => name);
    if (!chosen.some((d) => takers.includes(d.name))) {
      throw new CliError(
        `--${flag} is an option of ${takers.join(', ')}; ${chosen.length ? `none of the chosen attacks (${chosen.map((d) => d.name).join(', ')}) takes it` : 'give --attack'}`,
      );
    }
  }
  try {
    return chosen.map((d) => resolveAttack({ name: d.name, ...givenOptions(INDEX, flags, d).given }, threat));
  } catch (e) {
    throw e instanceof OptionError ? new CliError(e.message) : e;
  }
}

/** Test examples [offset, count) of a split loaded from its start (a limit reads a prefix). */
export function testExamples(split: SplitData, offset: number): SplitData {
  const per = split.shape.reduce((a, d) => a * d, 1);
  return { ...split, x: split.x.subarray(offset * per), y: split.y.subarray(offset), count: split.count - offset };
}

export interface EvalOptions {
  attacks: ResolvedAttack[];
  threat: ThreatSpec;
  /** The dataset's box and mask per input element (default: images in [0, 1], all mutable). */
  box?: FeatureBox;
  /** Predict at the attacks' points too (--save-predictions' adv_pred). */
  advPredictions: boolean;
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
    trained_threat: ckpt.metadata.threat ?? null,
    threat: o.threat,
    normalization: o.normalization ?? ckpt.metadata.normalization ?? null,
    dataset: o.dataset,
    offset: o.offset,
    examples: res.examples,
    /** True when the figures are on a subset of the test set, not a final figure. */
    limited: res.examples < o.testSize,
    clean_accuracy: res.cleanCorrect / res.examples,
    robust_accuracy: o.attacks.length ? res.robustCorrect / res.examples : null,
    attacks: evalAttackEntries(res),
    passes: res.passes,
    adapter,
    seconds: res.seconds,
    warnings: ckpt.warnings,
  };
}

/** Evaluates an opened checkpoint on `test` (already the chosen images); the model is built, used and freed here. */
export async function evaluateCheckpoint(
  ckpt: OpenedCheckpoint,
  test: SplitData,
  o: EvalOptions,
  adapter: string,
  progress?: (done: number, total: number) => void,
): Promise<{ report: EvalReport; predictions: string[] }> {
  const model = buildCheckpointModel(ckpt);
  const threat = o.box ? new ThreatModel(o.threat, o.box) : ThreatModel.image(o.threat, test.shape);
  try {
    if (o.normalization) model.normalization = new InputNormalization(o.normalization);
    const res = await inEvalMode(model, (classify) =>
      evaluateRobust(classify, splitSource(test), o.attacks, {
        threat,
        classes: ckpt.model.classes,
        batch: o.batch,
        seed: o.seed,
        advPredictions: o.advPredictions,
        progress,
      }),
    );
    const predictions = Array.from(res.predictions.clean, (p, i) =>
      JSON.stringify({
        index: o.offset + i,
        label: test.y[i],
        clean_pred: p,
        ...(res.predictions.adv ? { adv_pred: res.predictions.adv[i] } : {}),
      }),
    );
    return { report: buildReport(ckpt, o, res, adapter), predictions };
  } finally {
    threat.dispose();
    model.dispose();
  }
}

/** The report for people. */
export function formatReport(r: EvalReport): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const methodText = describeRecorded(r.method ?? undefined, r.trained_threat ?? undefined);
  const subset = r.limited ? ` (images ${r.offset}..${r.offset + r.examples - 1}: a subset, not a final figure)` : '';
  const norm =
    r.normalization && typeof r.normalization === 'object'
      ? `, inputs normalised ${fmtNormalization(r.normalization)}`
      : '';
  const lines = [
    `${r.checkpoint} (${r.architecture}, ${methodText}) on ${r.dataset} test, ${r.examples} images${subset}, BN in eval mode${norm}:`,
  ];
  lines.push(`  clean accuracy   ${pct(r.clean_accuracy)}`);
  lines.push(...attackLines(r.attacks));
  if (r.robust_accuracy !== null)
    lines.push(
      `  robust accuracy  ${pct(r.robust_accuracy)} (correct clean and under every attack run on the example; ${describeThreat(r.threat)})`,
    );
  lines.push(
    `  ${r.passes.forward} forward, ${r.passes.backwardInputOnly} input-gradient passes, ${r.seconds.toFixed(1)} s on ${r.adapter}`,
  );
  return lines.join('\n');
}

export const evaluate = command({
  name: 'eval',
  summary: 'evaluate a checkpoint on the test set: clean accuracy, and robust accuracy under attacks',
  flags: {
    checkpoint: {
      type: 'string',
      help: "model.safetensors written by advfree train, or a registered model's reference state_dict (required)",
    },
    model: {
      type: 'string',
      help: `${MODEL_PATTERNS}: the architecture, over the metadata (default: the metadata, else the tensor shapes)`,
      parse: checkedBy(checkModelName),
    },
    normalize: {
      type: 'string',
      help: 'MEAN,STD or 3 means then 3 stds: the model expects (x-mean)/std; applied inside it, attacks stay in [0,1]',
      parse: (v: string) => parseNormalization('normalize', v),
    },
    data: {
      type: 'string',
      help: `dataset: ${DATASET_NAMES.join(', ')} (default: the checkpoint's, else cifar10)`,
      parse: oneOf('data', DATASET_NAMES),
    },
    'data-dir': { type: 'string', help: 'dataset cache folder (env ADVFREE_DATA; default ~/.cache/advfree)' },
    limit: {
      type: 'string',
      help: 'evaluate N test images (default: all; a subset is not a final figure)',
      parse: intFlag('limit', 1),
    },
    offset: {
      type: 'string',
      help: 'index of the first test image evaluated',
      default: '0',
      parse: intFlag('offset', 0),
    },
    batch: { type: 'string', help: 'batch size', default: '256', parse: intFlag('batch', 1, 4096) },
    json: { type: 'boolean', help: 'print one JSON object on stdout (and nothing else there)' },
    'save-predictions': {
      type: 'string',
      help: 'write one JSON line per example (index, label, clean_pred, adv_pred) to this new file',
    },
    force: { type: 'boolean', help: 'let --save-predictions replace an existing file (never the checkpoint)' },
    ...EVAL_FLAGS,
  } satisfies FlagSet,
  check: (flags) => void attackSpecs(flags),
  async run(flags) {
    const path = flags.checkpoint;
    if (!path) throw new CliError('eval: --checkpoint FILE is required');
    checkInputFile('eval', '--checkpoint', path);
    const out = flags['save-predictions'];
    const checkOut = () =>
      out && checkOutputFile('eval', '--save-predictions', out, { inputs: [path], force: !!flags.force });
    checkOut();
    const normalization = flags.normalize ?? null;
    // Every tensor is checked against the architecture here, before the GPU or the dataset is touched.
    const ckpt = await openCheckpoint(path, { model: flags.model, data: flags.data });
    const dataset = findDataset(flags.data ?? ckpt.metadata.dataset ?? 'cifar10');
    const data = dataset.name;
    if (ckpt.metadata.dataset !== undefined && ckpt.metadata.dataset !== data)
      ckpt.warnings.push(`metadata 'dataset' is '${ckpt.metadata.dataset}', evaluating on ${data}`);
    for (const w of ckpt.warnings) console.error(`eval: ${path}: warning: ${w}`);
    if (ckpt.model.classes !== dataset.classes.length)
      throw new CliError(`eval: ${path} has ${ckpt.model.classes} classes but ${data} has ${dataset.classes.length}`);
    if (ckpt.model.input.join(',') !== dataset.shape.join(',')) {
      throw new CliError(
        `eval: ${path} takes inputs of shape [${ckpt.model.input.join(', ')}] but ${data}'s are [${dataset.shape.join(', ')}]`,
      );
    }
    // The threat model is the dataset's unless --norm and --eps say otherwise; the attacks' step sizes follow it.
    const threat = threatFromFlags(flags, dataset);
    const attacks = attackSpecs(flags, threat);
    const setting = { threat, images: dataset.shape.length === 3, classes: ckpt.model.classes };
    for (const a of attacks) {
      const why = unsupported(a, setting);
      if (why) throw new CliError(`eval: --attack ${a.descriptor.name} cannot run on ${data}: ${why}`);
    }
    const testSize = dataset.rows.test;
    const offset = flags.offset;
    if (offset >= testSize)
      throw new CliError(`eval: --offset ${offset} is past the ${testSize} test images of ${data}`);
    const limit = flags.limit;

    const r = await init({ backend: flags.backend, adapter: flags.adapter });
    const loaded = await loadDataset(dataset, {
      dataDir: flags['data-dir'] ?? defaultDataDir(),
      log: (m) => console.error(m),
      testLimit: limit === undefined ? undefined : offset + limit,
      recorded: ckpt.metadata,
    });
    const test = testExamples(loaded.test, offset);
    let report: EvalReport;
    let predictions: string[];
    try {
      ({ report, predictions } = await evaluateCheckpoint(
        ckpt,
        test,
        {
          attacks,
          threat,
          box: loaded.box,
          advPredictions: !!out,
          batch: flags.batch,
          seed: flags.seed,
          dataset: data,
          offset,
          testSize,
          normalization,
        },
        r.gpu.name,
        (done, total) => {
          if (attacks.length) console.error(`eval: ${done}/${total} images`);
        },
      ));
    } catch (e) {
      throw e instanceof ThreatError
        ? new CliError(`eval: --${e.what === 'box' ? 'data' : e.what} on ${data}: ${e.message}`)
        : e;
    }
    shutdown();
    // The results are printed whatever happens to the predictions file; its error, if any, comes after them.
    let writeError: Error | null = null;
    if (out) {
      try {
        checkOut();
        await writeFileAtomic(out, `${predictions.join('\n')}\n`);
      } catch (e) {
        writeError = new Error(`eval: could not write --save-predictions ${out}: ${(e as Error).message}`, {
          cause: e,
        });
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
});
