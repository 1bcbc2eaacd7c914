// Size bounds every model must meet before it is built: what a checkpoint can hold, and what one tensor may take
// on the adapter (each tensor lives in one buffer, bound whole as a storage buffer).
import { fmtBytes } from '../data/disk-space.js';
import type { ResolvedModel } from './model.js';
import type { TensorSpec } from './safetensors-file.js';

/**
 * Node reads at most 2 GiB into one buffer (fs.readFile), and the checkpoint reader reads a file whole: the
 * largest model whose parameters and statistics a checkpoint can hold here.
 */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;

const DTYPE_BYTES: Record<TensorSpec['dtype'], number> = { F32: 4, I64: 8, I32: 4, U8: 1, I8: 1 };

export const specBytes = (s: TensorSpec): number => s.shape.reduce((n, d) => n * d, DTYPE_BYTES[s.dtype]);

/** The adapter limits that bound one tensor: each lives in one buffer, bound whole as a storage buffer. */
export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** Where a batch does not fit: its largest activation and the limit it exceeds. */
export interface BatchOver {
  shape: number[];
  bytes: number;
  limit: keyof BufferLimits;
  /** The largest batch whose activations fit the limit. */
  maxBatch: number;
}

/**
 * Checks, before anything is allocated, that one batch's activations fit the adapter's buffer limits (each tensor
 * lives in one buffer, bound whole): the model's largest activation times the batch, in F32 (its gradient and a
 * batch norm's output have the same shape). Returns null when it fits.
 */
export function batchOver(
  model: Pick<ResolvedModel, 'activation'>,
  batch: number,
  limits: BufferLimits,
): BatchOver | null {
  const perExample = specBytes({ dtype: 'F32', shape: model.activation });
  const limit =
    limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  const bytes = perExample * batch;
  return bytes > limits[limit]
    ? { shape: [batch, ...model.activation], bytes, limit, maxBatch: Math.floor(limits[limit] / perExample) }
    : null;
}

/** Throws unless the model's tensors fit a checkpoint and, one by one, the adapter's buffer limits. */
export function checkModelFits(name: string, layout: [string, TensorSpec][], limits: BufferLimits): void {
  const total = layout.reduce((n, [, s]) => n + specBytes(s), 0);
  if (total > MAX_MODEL_BYTES)
    throw new Error(
      `model '${name}': its tensors take ${fmtBytes(total)}, over the ${fmtBytes(MAX_MODEL_BYTES)} a checkpoint can hold`,
    );
  for (const [tname, spec] of layout) {
    for (const limit of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) {
      if (specBytes(spec) > limits[limit]) {
        throw new Error(
          `model '${name}': tensor '${tname}' F32 [${spec.shape.join(',')}] takes ${fmtBytes(specBytes(spec))}, over the adapter's ${limit} of ${fmtBytes(limits[limit])}`,
        );
      }
    }
  }
}
