// `advfree train`: trains a WideResNet on CIFAR with a chosen method, with progress, metrics, checkpoints and
// resume. Every flag, the run folder and whether a batch fits the adapter are checked before any work starts
// and before the run folder is created.
import { join, resolve } from 'node:path';
import { init, rt, shutdown } from '../engine/index.js';
import { formatPasses } from '../train/report.js';
import { PROBE_KINDS } from '../train/probes.js';
import { DATASET_NAMES, defaultDataDir, findDataset, loadDataset, type DatasetDescriptor } from '../data/index.js';
import { Trainer } from '../train/trainer.js';
import {
  evaluationSplit,
  savedRunConfig,
  type Datasets,
  type ResumeChanges,
  type RunConfig,
} from '../train/run-config.js';
import { latestPair, RUN_FILES, RunFolder, RunFolderError } from '../train/run-folder.js';
import { loadTrainState } from '../train/train-state.js';
import { OPTIMIZERS } from '../nn/optim.js';
import { parseSchedule } from '../nn/schedule.js';
import { checkModelName, MODEL_PATTERNS, resolveModel } from '../nn/registry.js';
import { batchOver } from '../nn/model-size.js';
import { fmtBytes } from '../data/disk-space.js';
import {
  describeMethod,
  METHODS,
  resolveMethod,
  sgdStepsPerBatch,
  splitLegacyEps,
  type ResolvedMethod,
} from '../adversarial/registry.js';
import { describeThreat, IMAGE_THREAT } from '../adversarial/threat.js';
import {
  checkedBy,
  CliError,
  command,
  flagText,
  flagValue,
  givenFlags,
  intFlag,
  numFlag,
  oneOf,
  type FlagSet,
  type Values,
} from './args.js';
import { METHOD_FLAGS, methodConflicts, methodFromFlags } from './method-flags.js';
import { threatFromFlags } from './threat-flags.js';

export const TRAIN_DEFAULTS = { epochs: '10', batch: '128', lr: '0.1', schedule: 'multistep' };

const TRAIN_FLAGS = {
  data: {
    type: 'string',
    help: `dataset: ${DATASET_NAMES.join(', ')} (advfree data lists them)`,
    default: 'cifar10',
    parse: oneOf('data', DATASET_NAMES),
  },
  'data-dir': { type: 'string', help: 'dataset cache folder (env ADVFREE_DATA; default ~/.cache/advfree)' },
  model: {
    type: 'string',
    help: `${MODEL_PATTERNS} (default: the dataset's, e.g. wrn-16-1 on CIFAR, mnist-net on MNIST)`,
    parse: checkedBy(checkModelName),
  },
  epochs: {
    type: 'string',
    help: 'natural-equivalent epochs: passes over the training set, divided by the SGD steps a method takes per minibatch (free-m: m)',
    default: TRAIN_DEFAULTS.epochs,
    parse: intFlag('epochs', 1, 10_000),
  },
  batch: { type: 'string', help: 'minibatch size', default: TRAIN_DEFAULTS.batch, parse: intFlag('batch', 2, 4096) },
  lr: { type: 'string', help: 'peak learning rate', default: TRAIN_DEFAULTS.lr, parse: numFlag('lr', 1e-6, 10) },
  schedule: {
    type: 'string',
    help: 'multistep[:F1,F2], cosine, cyclic[:F], constant (over SGD iterations)',
    default: TRAIN_DEFAULTS.schedule,
    parse: checkedBy((v) => parseSchedule(v, 0.1)),
  },
  optimizer: {
    type: 'string',
    help: "'sgd' (torch.optim.SGD with --momentum, --nesterov) or 'adam' (torch.optim.Adam: betas 0.9, 0.999, eps 1e-8; --weight-decay added to the gradient, not AdamW)",
    default: 'sgd',
    parse: oneOf('optimizer', OPTIMIZERS),
  },
  momentum: {
    type: 'string',
    help: 'SGD momentum (--optimizer sgd)',
    default: '0.9',
    parse: numFlag('momentum', 0, 0.999),
  },
  nesterov: { type: 'boolean', help: 'Nesterov momentum (--optimizer sgd)' },
  'weight-decay': { type: 'string', help: 'L2 weight decay', default: '5e-4', parse: numFlag('weight-decay', 0, 1) },
  'decay-on': {
    type: 'string',
    help: "which parameters decay: 'all' or 'weights' (conv/linear weights only)",
    default: 'all',
    parse: (v: string) => {
      if (v !== 'all' && v !== 'weights') throw new CliError(`--decay-on must be 'all' or 'weights', got '${v}'`);
      return v;
    },
  },
  seed: {
    type: 'string',
    help: 'seed of weights, data order and augmentation',
    default: '0',
    parse: intFlag('seed', 0, 2 ** 31 - 1),
  },
  'no-augment': {
    type: 'boolean',
    help: 'no random crop / flip (images; a dataset without augmentation, e.g. MNIST, has none anyway)',
  },
  out: {
    type: 'string',
    help: "run folder (refused if it holds a run's files): checkpoints/step-N/{model,train-state}.safetensors, latest (the newest complete pair), model.safetensors (the latest model), metrics.jsonl, lock",
    default: 'runs/latest',
  },
  resume: {
    type: 'string',
    help: 'continue the run in this folder with its saved configuration; only --epochs (to extend the run), --max-steps, --checkpoint-minutes, --log-every, --data-dir, --backend, --adapter may differ (recorded in metrics.jsonl), other flags must match',
  },
  'train-limit': { type: 'string', help: 'use the first N training images', parse: intFlag('train-limit', 1) },
  'test-limit': {
    type: 'string',
    help: 'evaluate on the first N test images each epoch',
    parse: intFlag('test-limit', 1),
  },
  validation: {
    type: 'string',
    help: 'hold out this fraction of the training split (stratified, seeded) and evaluate on it instead of the test split: for choosing a model or its settings',
    parse: numFlag('validation', 0.01, 0.99),
  },
  'max-steps': {
    type: 'string',
    help: 'stop (with a checkpoint) after N minibatches in total',
    parse: intFlag('max-steps', 1),
  },
  'checkpoint-minutes': {
    type: 'string',
    help: 'also checkpoint this often within an epoch',
    default: '10',
    parse: numFlag('checkpoint-minutes', 0.01, 1e6),
  },
  'log-every': {
    type: 'string',
    help: 'a metrics line at every N-th minibatch (steps N, 2N, ...)',
    default: '50',
    parse: intFlag('log-every', 1),
  },
  probe: {
    type: 'string',
    help: `diagnostics on a held batch (metrics lines of type 'probe'): ${PROBE_KINDS.join(', ')} (how stale the method's reused gradient or perturbation is)`,
    parse: oneOf('probe', PROBE_KINDS),
  },
  'probe-every': {
    type: 'string',
    help: 'run --probe every N minibatches',
    default: '10',
    parse: intFlag('probe-every', 1),
  },
  ...METHOD_FLAGS,
} satisfies FlagSet;

type TrainFlags = Values<typeof TRAIN_FLAGS>;

export const train = command({
  name: 'train',
  summary: 'train a model on a dataset (natural or adversarial), with checkpoints and resume',
  flags: TRAIN_FLAGS,
  check: (flags) => void threatFromFlags(flags),
  async run(flags) {
    const dataDir = flags['data-dir'] ?? defaultDataDir();
    const resume = flags.resume;
    // An empty --resume '' is still a resume (refused as such below), never a new run.
    const resuming = resume !== undefined;
    const choice = resuming ? null : methodFromFlags(flags);
    if (flags.probe && choice && !choice.descriptor.probes) {
      throw new CliError(
        `--probe ${flags.probe}: method '${choice.descriptor.name}' declares no reuse probes; methods with probes: ${METHODS.filter(
          (m) => m.probes,
        )
          .map((m) => m.name)
          .join(', ')}`,
      );
    }
    const sgdOnly = ['momentum', 'nesterov'].filter((f) => givenFlags(flags).has(f));
    if (!resuming && flags.optimizer === 'adam' && sgdOnly.length > 0) {
      throw new CliError(
        `${sgdOnly.map((f) => `--${f}`).join(' and ')} ${sgdOnly.length > 1 ? 'are' : 'is'} for --optimizer sgd; --optimizer ${flags.optimizer} uses torch.optim.Adam's betas (0.9, 0.999)`,
      );
    }
    const config = resuming ? null : configFromFlags(flags, choice!);
    const dir = resume ?? flags.out;
    const mode = resuming ? 'resume' : 'new';
    // The folder is checked (without being created or locked) before any work, so that a refusal comes at once.
    usage(() => RunFolder.check(dir, mode));
    const resumed = resuming ? await resumeChanges(flags, givenFlags(flags), resume) : null;
    if (config && config.epochs !== flags.epochs) {
      console.error(
        `advfree train: ${flagText(flags, 'epochs')} natural-equivalent epochs / ${sgdStepsPerBatch(choice!)} SGD steps per minibatch = ${config.epochs} passes over the data`,
      );
    }
    const r = await init({ backend: flags.backend, adapter: flags.adapter });
    checkBatchFits(resumed?.saved ?? config!, resuming);
    const folder = usage(() => RunFolder.open(dir, mode));
    try {
      const changes = resumed?.changes;
      const trainer = resuming
        ? await Trainer.resume(resume, (c) => loadData(c, dataDir), changes)
        : new Trainer(config!, await loadData(config!, dataDir));
      const c = trainer.config;
      const maxSteps = flags['max-steps'];
      console.error(
        `advfree train: ${c.model} on ${c.data} (${trainer.data.train.count} train / ${trainer.data.test.count} ${evaluationSplit(c)} examples), ` +
          `method ${describeMethod(trainer.resolved)} at ${describeThreat(c.threat)}, ${c.epochs} epochs of ${trainer.loader.batchesPerEpoch} batches of ${c.batch}, ` +
          `${c.optimizer} lr ${c.lr} ${c.schedule}, seed ${c.seed}, on ${r.gpu.name}, run ${trainer.runId}${resuming ? `, resuming at step ${trainer.stepsDone}` : ''}`,
      );
      const t0 = performance.now();
      const probe = flags.probe ? { every: flags['probe-every'] } : undefined;
      const summaries = await trainer.run({
        out: folder,
        maxSteps,
        probe,
        context: { adapter: r.gpu.name, data_dir: dataDir, max_steps: maxSteps ?? null },
      });
      const minutes = (performance.now() - t0) / 60_000;
      const last = summaries.at(-1);
      if (last) {
        console.log(
          `final: ${evaluationSplit(c)} accuracy ${(last.testAccuracy * 100).toFixed(2)}% after epoch ${last.epoch}, train accuracy ${(last.trainAccuracy * 100).toFixed(2)}%, ` +
            `passes: ${formatPasses(trainer.totalPasses)} ` +
            `in ${minutes.toFixed(1)} min; checkpoint ${join(folder.dir, RUN_FILES.model)}`,
        );
      }
      if (trainer.probes) {
        const pp = trainer.probes.meter.passes;
        const method = trainer.totalPasses;
        console.log(
          `probe overhead (not in the passes above): ${formatPasses(pp)} in ${trainer.probes.seconds.toFixed(1)} s, ` +
            `${((100 * (pp.forward + pp.partialForward)) / Math.max(1, method.forward + method.partialForward)).toFixed(1)}% of the method's forward passes`,
        );
      }
      trainer.dispose();
      shutdown();
      return 0;
    } finally {
      folder.release();
    }
  },
});

/** Runs a run-folder check: a folder that is not one, would be overwritten or has nothing to resume is a usage error. */
function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw e instanceof RunFolderError && e.kind !== 'busy' ? new CliError(e.message) : e;
  }
}

/** A usage error unless one batch's activations fit the adapter's buffer limits (nn/wrn-layout.ts batchOver). */
export function checkBatchFits(c: Pick<RunConfig, 'model' | 'data' | 'classes' | 'batch'>, resumed: boolean): void {
  const model = resolveModel(c.model, findDataset(c.data).shape, c.classes);
  const limits = rt().device.limits;
  const over = batchOver(model, c.batch, limits);
  if (!over) return;
  const flag = resumed ? `the saved --batch ${c.batch}` : `--batch ${c.batch}`;
  throw new CliError(
    `${flag} does not fit this adapter: ${model.name}'s largest activation, F32 [${over.shape.join(',')}], takes ${fmtBytes(over.bytes)}, ` +
      `over its ${over.limit} of ${fmtBytes(limits[over.limit])}; the largest batch it can train ${model.name} with is ${over.maxBatch}` +
      `${resumed ? ' (resume on an adapter with larger limits)' : ''}. Nothing was created`,
  );
}

/** The flags a resume may take besides --resume: they change how the run continues, not what it is. */
const RESUME_FLAGS = ['epochs', 'max-steps', 'checkpoint-minutes', 'log-every', 'data-dir', 'backend', 'adapter'];

/** The run-configuration field each remaining train flag sets. */
const FIELD_OF: Record<string, keyof RunConfig> = {
  data: 'data',
  model: 'model',
  batch: 'batch',
  lr: 'lr',
  schedule: 'schedule',
  optimizer: 'optimizer',
  momentum: 'momentum',
  nesterov: 'nesterov',
  'weight-decay': 'weightDecay',
  'decay-on': 'decay',
  seed: 'seed',
  'no-augment': 'augment',
  'train-limit': 'trainLimit',
  'test-limit': 'testLimit',
  validation: 'validation',
};

/**
 * The saved configuration and the settings changed on `--resume DIR` (RESUME_FLAGS). Every other flag given must
 * agree with the saved configuration: each that does not is named, with the saved value, in one usage error.
 */
async function resumeChanges(
  flags: TrainFlags,
  given: ReadonlySet<string>,
  dir: string,
): Promise<{ saved: RunConfig; changes: ResumeChanges }> {
  const { state } = await loadTrainState(join(latestPair(dir), RUN_FILES.state));
  const saved = savedRunConfig(state);
  const maxSteps = flags['max-steps'] ?? Infinity;
  if (maxSteps < state.step)
    throw new CliError(
      `--max-steps ${maxSteps} is below step ${state.step}, where the run in ${dir} already is; give --max-steps ${state.step} or more`,
    );
  // Runs recorded before the threat model was the run's hold eps among the method's options.
  const legacy = splitLegacyEps(saved.method);
  const savedThreat = saved.threat ?? legacy.threat ?? IMAGE_THREAT;
  const method = resolveMethod(legacy.method, savedThreat);
  const asGiven = configFromFlags(flags, method);
  const conflicts: string[] = [];
  if (given.has('out') && resolve(flags.out) !== resolve(dir))
    conflicts.push(`--out ${flags.out} (the run's folder is ${dir})`);
  for (const [flag, field] of Object.entries(FIELD_OF)) {
    if (!given.has(flag) || asGiven[field] === saved[field]) continue;
    const value = (v: unknown) =>
      typeof v === 'boolean' ? (v === (flag !== 'no-augment') ? 'on' : 'off') : v === null ? 'all' : String(v);
    conflicts.push(
      `--${flag}${typeof flagValue(flags, flag) === 'boolean' ? '' : ` ${flagText(flags, flag)}`} (saved: ${value(saved[field])})`,
    );
  }
  conflicts.push(...methodConflicts(flags, given, method.config, savedThreat));
  if (conflicts.length > 0) {
    throw new CliError(
      `--resume ${dir} continues the saved configuration; ${conflicts.length === 1 ? 'this flag conflicts' : 'these flags conflict'} with it: ${conflicts.join(', ')}. ` +
        `Drop ${conflicts.length === 1 ? 'it' : 'them'}, or start a new run with another --out. A resume may change only ${RESUME_FLAGS.map((f) => `--${f}`).join(', ')}`,
    );
  }
  const changes = {
    epochs: given.has('epochs') ? asGiven.epochs : undefined,
    checkpointMinutes: given.has('checkpoint-minutes') ? asGiven.checkpointMinutes : undefined,
    logEvery: given.has('log-every') ? asGiven.logEvery : undefined,
  };
  return { saved, changes };
}

export async function loadData(c: RunConfig, dataDir: string): Promise<Datasets> {
  return loadDataset(findDataset(c.data), {
    dataDir,
    log: (m) => console.error(m),
    trainLimit: c.trainLimit ?? undefined,
    testLimit: c.testLimit ?? undefined,
    validation: c.validation ?? undefined,
  });
}

/** The model's canonical name, once it is known to take the dataset's inputs (before anything is allocated). */
function checkedModel(name: string, data: DatasetDescriptor): string {
  try {
    return resolveModel(name, data.shape, data.classes.length).name;
  } catch (e) {
    throw new CliError(`--model ${name} on --data ${data.name}: ${(e as Error).message}`);
  }
}

function configFromFlags(flags: TrainFlags, method: ResolvedMethod): RunConfig {
  const data = findDataset(flags.data);
  return {
    data: data.name,
    model: checkedModel(flags.model ?? data.model, data),
    classes: data.classes.length,
    epochs: Math.max(1, Math.ceil(flags.epochs / sgdStepsPerBatch(method))),
    batch: flags.batch,
    lr: flags.lr,
    schedule: flags.schedule,
    optimizer: flags.optimizer,
    momentum: flags.momentum,
    nesterov: !!flags.nesterov,
    weightDecay: flags['weight-decay'],
    decay: flags['decay-on'],
    seed: flags.seed,
    augment: data.augment !== null && !flags['no-augment'],
    trainLimit: flags['train-limit'] ?? null,
    validation: flags.validation ?? null,
    testLimit: flags['test-limit'] ?? null,
    method: method.config,
    threat: threatFromFlags(flags),
    normalization: 'none',
    checkpointMinutes: flags['checkpoint-minutes'],
    logEvery: flags['log-every'],
  };
}
