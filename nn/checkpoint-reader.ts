// Opens a model checkpoint for evaluation, checking everything on the host before the GPU is touched: advfree's
// own files (architecture in the metadata) and plain state_dicts of the reference WideResNet saved elsewhere
// (`safetensors.torch.save_file(model.state_dict(), path)`: no metadata, architecture from the tensor shapes).
import { optionalCounter, writeState } from './checkpoint.js';
import { checkTensorSet, readSafetensorsFile } from './safetensors-file.js';
import type { SafetensorsTensor } from './safetensors.js';
import { archName, parseArch, type WrnConfig, type WideResNet } from './wrn.js';
import { inferWrnConfig, wrnTensorSpecs } from './wrn-layout.js';

export interface OpenedCheckpoint {
  path: string;
  config: WrnConfig;
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
  if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof (m as { name?: unknown }).name !== 'string') return false;
  return Object.values(m).every((v) => ['number', 'string', 'boolean'].includes(typeof v));
}

/** What a state_dict converted from another code base may still carry, and how to drop it (README). */
function conversionHint(tensors: Record<string, unknown>): string {
  const names = Object.keys(tensors);
  const hints = [];
  if (names.some((n) => n.startsWith('module.'))) hints.push("its names start with 'module.' (nn.DataParallel): strip that prefix when converting");
  if (names.some((n) => n.startsWith('sub_block1.'))) hints.push("it holds TRADES' unused 'sub_block1' tensors: drop them when converting");
  return hints.length ? `; ${hints.join('; ')} (see the README)` : '';
}

/**
 * Reads `path` and decides its architecture: `model` (a flag) if given, else the metadata's, else the tensor
 * shapes'. Every tensor name, dtype and shape is then checked against that architecture. Throws with the path
 * and the fix; metadata that is merely odd becomes a warning.
 */
export async function openCheckpoint(path: string, opts: { model?: string; flag?: string } = {}): Promise<OpenedCheckpoint> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  const flag = opts.flag ?? '--model';
  const warnings: string[] = [];
  const fc = Object.hasOwn(tensors, 'fc.weight') ? tensors['fc.weight'].shape : null;
  // The classifier's rows are the classes; a model without fc is refused by the tensor check below.
  const classes = fc?.length === 2 ? fc[0] : Number(metadata.classes ?? 10);
  const recorded = metadata.architecture;

  let config: WrnConfig;
  let architectureFrom: OpenedCheckpoint['architectureFrom'];
  const parse = (arch: string, source: string): WrnConfig => {
    try {
      return parseArch(arch, Number.isSafeInteger(classes) && classes > 0 ? classes : 10);
    } catch (e) {
      throw new Error(`${path}: ${source}: ${(e as Error).message}${source === flag ? '' : ` (${flag} wrn-DEPTH-WIDTH overrides it)`}`, { cause: e });
    }
  };
  if (opts.model !== undefined) {
    config = parse(opts.model, flag);
    architectureFrom = '--model';
    if (recorded !== undefined && recorded !== archName(config)) warnings.push(`the file records architecture '${recorded}'; using ${flag} ${archName(config)}`);
  } else if (recorded !== undefined) {
    config = parse(recorded, 'the architecture in its metadata');
    architectureFrom = 'metadata';
  } else {
    const inferred = inferWrnConfig(tensors);
    if (typeof inferred === 'string') {
      throw new Error(`${path}: no architecture in the metadata, and the tensors are not a reference WideResNet state_dict (${inferred})${conversionHint(tensors)}; give ${flag} wrn-DEPTH-WIDTH`);
    }
    config = parse(archName(inferred), 'the architecture of its tensor shapes');
    architectureFrom = 'tensor shapes';
  }
  const hint = architectureFrom === 'metadata' ? ` (the architecture its metadata records)` : architectureFrom === '--model' ? ` (given by ${flag})` : ' (inferred from its tensor shapes)';
  checkTensorSet(path, `${archName(config)} with ${config.classes} classes`, tensors, wrnTensorSpecs(config), hint + conversionHint(tensors), optionalCounter);

  if (metadata.method !== undefined && !isMethodRecord(metadata.method)) {
    warnings.push(`metadata 'method' is ${JSON.stringify(metadata.method)}, not advfree's method record (JSON with a name); reported as given`);
  }
  if (metadata.classes !== undefined && Number(metadata.classes) !== config.classes) {
    warnings.push(`metadata 'classes' is ${JSON.stringify(metadata.classes)}, but fc has ${config.classes} rows; using ${config.classes}`);
  }
  return { path, config, architectureFrom, metadata, warnings, tensors };
}

/** Loads an opened checkpoint's tensors into a model built from its config. */
export function loadCheckpoint(model: WideResNet, ckpt: OpenedCheckpoint): void {
  if (archName(model.config) !== archName(ckpt.config) || model.config.classes !== ckpt.config.classes) {
    throw new Error(`${ckpt.path}: the model is ${archName(model.config)} with ${model.config.classes} classes, the checkpoint ${archName(ckpt.config)} with ${ckpt.config.classes}`);
  }
  writeState(model, ckpt.tensors);
}
