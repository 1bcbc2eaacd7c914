// Model checkpoints in PyTorch's state_dict layout: model.safetensors holds exactly the tensors, names, shapes and
// dtypes of the reference WideResNet, so `load_state_dict(safetensors.torch.load_file(path))` takes it unchanged.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from './atomic.js';
import { checkUsable } from './finite.js';
import type { Buffer, Module } from './module.js';
import { encodeSafetensors, type SafetensorsEntry, type SafetensorsTensor } from './safetensors.js';
import { checkTensorSet, readSafetensorsFile, type TensorSpec } from './safetensors-file.js';

/** What a checkpoint records so that it can be evaluated and reproduced without the run's logs. */
export interface ModelMetadata {
  /** e.g. 'wrn-16-1' (archName). */
  architecture: string;
  dataset: string;
  /** Where inputs are normalised, e.g. 'none: inputs in [0,1]' (the ecosystem's convention). */
  normalization: string;
  method: string;
  epoch: string;
  /** gitCommit() of the code that trained it. */
  commit: string;
  [key: string]: string;
}

/**
 * The model's state_dict in PyTorch's order: module by module (pre-order), each module's parameters, then its
 * buffers. (A module with buffers but no parameters would come last; no layer here has one.)
 */
function stateDict(model: Module): [string, Buffer][] {
  const byModule = new Map<string, [string, Buffer][]>();
  const add = (name: string, entry: Buffer): void => {
    const owner = name.slice(0, Math.max(0, name.lastIndexOf('.')));
    const group = byModule.get(owner) ?? [];
    group.push([name, entry]);
    byModule.set(owner, group);
  };
  for (const [name, p] of model.namedParameters()) add(name, { tensor: p.tensor });
  for (const [name, b] of model.namedBuffers()) add(name, b);
  return [...byModule.values()].flat();
}

/** Tensors are f32 (weights, running statistics); host counters (num_batches_tracked) are int64 scalars. */
const specOf = (entry: Buffer): TensorSpec =>
  'tensor' in entry ? { dtype: 'F32', shape: entry.tensor.shape } : { dtype: 'I64', shape: [] };

/** PyTorch's load_state_dict accepts BatchNorm state without the counter (older PyTorch did not save it): so do we. */
export const optionalCounter = (name: string): boolean => name.endsWith('.num_batches_tracked');

/** The model's state_dict read back from the GPU, as safetensors entries (what a checkpoint holds). */
export async function modelEntries(model: Module): Promise<Record<string, SafetensorsEntry>> {
  const dict = stateDict(model);
  for (const [name, e] of dict) {
    if ('tensor' in e && e.tensor.dtype !== 'f32')
      throw new Error(`tensor '${name}' is ${e.tensor.dtype}, expected f32`);
  }
  const data = await Promise.all(dict.map(([, e]) => ('tensor' in e ? e.tensor.data() : BigInt64Array.of(e.int64()))));
  return Object.fromEntries(
    dict.map(([name, e], i): [string, SafetensorsEntry] => {
      const { dtype, shape } = specOf(e);
      return [name, { dtype, shape: [...shape], data: data[i] }];
    }),
  );
}

/** The bytes of a model checkpoint: the entries of modelEntries and `metadata`. */
export function encodeModel(entries: Record<string, SafetensorsEntry>, metadata: ModelMetadata): Uint8Array {
  // 'format: pt' is what Hugging Face loaders require of PyTorch weights; it describes our layout, so it is ours to set.
  return encodeSafetensors(entries, { ...metadata, format: 'pt' });
}

/** Writes the model's state_dict and `metadata` to `path` (atomically: the old file or the new, never a mix). */
export async function saveModel(model: Module, path: string, metadata: ModelMetadata): Promise<void> {
  let entries: Record<string, SafetensorsEntry>;
  try {
    entries = await modelEntries(model);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`, { cause: e });
  }
  await writeFileAtomic(path, encodeModel(entries, metadata));
}

/**
 * Loads `path` into the model, strictly: every state_dict tensor must be present with its dtype and shape
 * (a missing num_batches_tracked reads as 0, as in PyTorch), and nothing else; otherwise the model is left
 * untouched. Returns the checkpoint's metadata.
 */
export async function loadModel(model: Module, path: string): Promise<Record<string, string>> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  const hint = metadata.architecture ? ` (the file records architecture '${metadata.architecture}')` : '';
  checkTensorSet(
    path,
    'the model',
    tensors,
    stateDict(model).map(([name, e]) => [name, specOf(e)]),
    hint,
    optionalCounter,
  );
  checkUsable(path, tensors);
  writeState(model, tensors);
  return metadata;
}

/** Writes checked tensors (checkTensorSet) into the model's state_dict. */
export function writeState(model: Module, tensors: Record<string, SafetensorsTensor>): void {
  for (const [name, e] of stateDict(model)) {
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    if ('tensor' in e) e.tensor.write(t!.data as Float32Array);
    else e.setInt64(t ? (t.data as BigInt64Array)[0] : 0n);
  }
}

/** The metadata of a checkpoint (the file is read and validated whole). */
export async function readCheckpointMetadata(path: string): Promise<Record<string, string>> {
  return (await readSafetensorsFile(path)).metadata;
}

const SOURCE_DIR = fileURLToPath(new URL('.', import.meta.url));

/**
 * The short commit of the git checkout holding `dir` (default: this code's), suffixed '-dirty' when tracked files
 * have uncommitted changes; 'unknown' outside a checkout or without git. Never throws.
 */
export function gitCommit(dir = SOURCE_DIR): string {
  const git = (...args: string[]): string =>
    execFileSync('git', args, {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? commit : `${commit}-dirty`;
  } catch {
    return 'unknown';
  }
}
