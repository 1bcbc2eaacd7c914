// Opens a model checkpoint for evaluation, checking everything on the host before the GPU is touched: advfree's
// own files (architecture, dataset and input shape in the metadata) and plain state_dicts of a registered model's
// reference definition saved elsewhere (`safetensors.torch.save_file(model.state_dict(), path)`: no metadata, the
// architecture from the tensor names and shapes, the input shape from the dataset).
import { findDataset } from '../data/registry.js';
import { optionalCounter, writeState } from './checkpoint.js';
import { checkUsable } from './finite.js';
import type { Classifier, ResolvedModel } from './model.js';
import { findModel, inferModel, MODEL_PATTERNS } from './registry.js';
import { checkTensorSet, readSafetensorsFile } from './safetensors-file.js';
import type { SafetensorsTensor } from './safetensors.js';

export interface OpenedCheckpoint {
  path: string;
  /** The architecture, resolved for the checkpoint's input shape and classes. */
  model: ResolvedModel;
  /** Where the architecture came from. */
  architectureFrom: 'metadata' | '--model' | 'tensor shapes';
  metadata: Record<string, string>;
  /** Metadata that is not what advfree writes, in words; the evaluation goes on without it. */
  warnings: string[];
  tensors: Record<string, SafetensorsTensor>;
}

/** Whether `raw` has the shape of advfree's method record: JSON of { name, ...options with scalar values }. */
function isMethodRecord(raw: string): boolean {
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return false;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof (m as { name?: unknown }).name !== 'string')
    return false;
  return Object.values(m).every((v) => ['number', 'string', 'boolean'].includes(typeof v));
}

/** What a state_dict converted from another code base may still carry, and how to drop it (docs/evaluation.md). */
function conversionHint(tensors: Record<string, unknown>): string {
  const names = Object.keys(tensors);
  const hints = [];
  if (names.some((n) => n.startsWith('module.')))
    hints.push("its names start with 'module.' (nn.DataParallel): strip that prefix when converting");
  if (names.some((n) => n.startsWith('sub_block1.')))
    hints.push("it holds TRADES' unused 'sub_block1' tensors: drop them when converting");
  return hints.length ? `; ${hints.join('; ')} (see docs/evaluation.md)` : '';
}

/** One sample's shape: the metadata's `input`, else the shape of the dataset it (or --data) names, else CIFAR's. */
function inputShape(path: string, metadata: Record<string, string>, data: string | undefined): readonly number[] {
  if (metadata.input !== undefined) {
    try {
      const shape = JSON.parse(metadata.input);
      if (Array.isArray(shape) && shape.length > 0 && shape.every((d) => Number.isSafeInteger(d) && d > 0))
        return shape;
    } catch {}
    throw new Error(
      `${path}: metadata 'input' is ${JSON.stringify(metadata.input)}, not a sample shape such as [1,28,28]`,
    );
  }
  return findDataset(metadata.dataset ?? data ?? 'cifar10').shape;
}

/**
 * Reads `path` and decides its architecture: `model` (a flag) if given, else the metadata's, else the tensors'.
 * Every tensor name, dtype and shape is then checked against that architecture. Throws with the path and the
 * fix; metadata that is merely odd becomes a warning. `data` names the dataset when the metadata does not.
 */
export async function openCheckpoint(
  path: string,
  opts: { model?: string; flag?: string; data?: string } = {},
): Promise<OpenedCheckpoint> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  const flag = opts.flag ?? '--model';
  const warnings: string[] = [];
  const recorded = metadata.architecture;

  let name: string;
  let architectureFrom: OpenedCheckpoint['architectureFrom'];
  if (opts.model !== undefined) {
    name = opts.model;
    architectureFrom = '--model';
  } else if (recorded !== undefined) {
    name = recorded;
    architectureFrom = 'metadata';
  } else {
    const inferred = inferModel(tensors);
    if (typeof inferred !== 'string') {
      throw new Error(
        `${path}: no architecture in the metadata, and the tensors are not a registered model's state_dict (${inferred.not})${conversionHint(tensors)}; give ${flag} (${MODEL_PATTERNS})`,
      );
    }
    name = inferred;
    architectureFrom = 'tensor shapes';
  }
  const source = {
    metadata: 'the architecture in its metadata',
    '--model': flag,
    'tensor shapes': 'the architecture of its tensor shapes',
  }[architectureFrom];
  let model: ResolvedModel;
  try {
    const family = findModel(name);
    // The classifier's rows are the classes; a model without them is refused by the tensor check below.
    const head = Object.hasOwn(tensors, family.head(name)) ? tensors[family.head(name)].shape : null;
    const classes = head?.length === 2 ? head[0] : Number(metadata.classes ?? 10);
    model = family.resolve(
      name,
      inputShape(path, metadata, opts.data),
      Number.isSafeInteger(classes) && classes > 0 ? classes : 10,
    );
  } catch (e) {
    const msg = (e as Error).message.startsWith(path)
      ? (e as Error).message.slice(path.length + 2)
      : (e as Error).message;
    throw new Error(
      `${path}: ${source}: ${msg}${source === flag ? '' : ` (${flag} ${findModelPattern(name)} overrides it)`}`,
      { cause: e },
    );
  }
  if (architectureFrom === '--model' && recorded !== undefined && recorded !== model.name)
    warnings.push(`the file records architecture '${recorded}'; using ${flag} ${model.name}`);
  const hint =
    architectureFrom === 'metadata'
      ? ` (the architecture its metadata records)`
      : architectureFrom === '--model'
        ? ` (given by ${flag})`
        : ' (inferred from its tensor shapes)';
  checkTensorSet(
    path,
    `${model.name} with ${model.classes} classes`,
    tensors,
    model.layout,
    hint + conversionHint(tensors),
    optionalCounter,
  );
  checkUsable(path, tensors);

  if (metadata.method !== undefined && !isMethodRecord(metadata.method)) {
    warnings.push(
      `metadata 'method' is ${JSON.stringify(metadata.method)}, not advfree's method record (JSON with a name); reported as given`,
    );
  }
  if (metadata.classes !== undefined && Number(metadata.classes) !== model.classes) {
    warnings.push(
      `metadata 'classes' is ${JSON.stringify(metadata.classes)}, but the classifier has ${model.classes} rows; using ${model.classes}`,
    );
  }
  return { path, model, architectureFrom, metadata, warnings, tensors };
}

/** The name pattern of the family `name` belongs to, or every pattern when none matches. */
function findModelPattern(name: string): string {
  try {
    return findModel(name).pattern;
  } catch {
    return MODEL_PATTERNS;
  }
}

/** Builds the checkpoint's model on the GPU and loads its tensors. */
export function buildCheckpointModel(ckpt: OpenedCheckpoint): Classifier {
  const model = ckpt.model.build(0);
  try {
    writeState(model, ckpt.tensors);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
