// The reference WideResNet's state_dict as data, computed from its config on the host: tensor names and shapes
// (to check a checkpoint's header before anything is allocated), the config read back from a state_dict's shapes
// (for models trained elsewhere), and the size bounds a model must meet before it is built.
import { fmtBytes } from '../../data/disk-space.js';
import { MAX_MODEL_BYTES, specBytes, type BufferLimits } from '../model-size.js';
import type { TensorSpec } from '../safetensors-file.js';
import type { WrnConfig } from './wrn.js';

/** Blocks in each of the three groups of a WRN of `depth` (6n+4). */
export const blocksPerGroup = (depth: number): number => (depth - 4) / 6;

/** Channels of the stem and of the three groups. */
export const wrnChannels = (width: number): [number, number, number, number] => [
  16,
  16 * width,
  32 * width,
  64 * width,
];

/** Far deeper than any published WRN (n = 166 blocks a group); it keeps a hostile name from enumerating millions of layers. */
export const MAX_DEPTH = 1000;

/**
 * The state_dict of the reference WRN, in PyTorch's order (module by module, each module's parameters, then its
 * buffers): what WideResNet holds and what `torch.save(model.state_dict())` writes.
 */
export function wrnTensorSpecs(c: WrnConfig): [string, TensorSpec][] {
  const out: [string, TensorSpec][] = [];
  const f32 = (name: string, ...shape: number[]) => out.push([name, { dtype: 'F32', shape }]);
  const bn = (prefix: string, ch: number) => {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) f32(`${prefix}.${k}`, ch);
    out.push([`${prefix}.num_batches_tracked`, { dtype: 'I64', shape: [] }]);
  };
  const ch = wrnChannels(c.width);
  f32('conv1.weight', ch[0], c.inChannels, 3, 3);
  for (let g = 1; g <= 3; g++) {
    for (let i = 0; i < blocksPerGroup(c.depth); i++) {
      const [cin, cout, p] = [i === 0 ? ch[g - 1] : ch[g], ch[g], `block${g}.layer.${i}`];
      bn(`${p}.bn1`, cin);
      f32(`${p}.conv1.weight`, cout, cin, 3, 3);
      bn(`${p}.bn2`, cout);
      f32(`${p}.conv2.weight`, cout, cout, 3, 3);
      if (cin !== cout) f32(`${p}.convShortcut.weight`, cout, cin, 1, 1);
    }
  }
  bn('bn1', ch[3]);
  f32('fc.weight', c.classes, ch[3]);
  f32('fc.bias', c.classes);
  return out;
}

const name = (c: WrnConfig): string => `wrn-${c.depth}-${c.width}`;

/** Throws unless the model's depth and total size are within what this program can build, save and load. */
export function checkWrnSize(c: WrnConfig): void {
  if (c.depth > MAX_DEPTH)
    throw new Error(
      `model '${name(c)}': depth ${c.depth} is over the limit of ${MAX_DEPTH} (${blocksPerGroup(MAX_DEPTH)} blocks a group)`,
    );
  const total = wrnTensorSpecs(c).reduce((n, [, s]) => n + specBytes(s), 0);
  if (total > MAX_MODEL_BYTES) {
    throw new Error(
      `model '${name(c)}': its tensors take ${fmtBytes(total)}, over the ${fmtBytes(MAX_MODEL_BYTES)} a checkpoint can hold ` +
        '(checkpoints are read whole, and Node reads at most 2 GiB at once)',
    );
  }
}

/** The largest tensor of `c`, and which limit (if any) it exceeds. */
function largestOver(
  c: WrnConfig,
  limits: BufferLimits,
): { name: string; spec: TensorSpec; bytes: number; limit: keyof BufferLimits } | null {
  for (const [tname, spec] of wrnTensorSpecs(c)) {
    const bytes = specBytes(spec);
    for (const limit of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) {
      if (bytes > limits[limit]) return { name: tname, spec, bytes, limit };
    }
  }
  return null;
}

/** Throws, before anything is allocated, unless every tensor of `c` fits the adapter's buffer limits. */
export function checkWrnFits(c: WrnConfig, limits: BufferLimits): void {
  const over = largestOver(c, limits);
  if (!over) return;
  let widest = 0;
  while (!largestOver({ ...c, width: widest + 1 }, limits)) widest++;
  throw new Error(
    `model '${name(c)}': tensor '${over.name}' F32 [${over.spec.shape.join(',')}] takes ${fmtBytes(over.bytes)}, over the adapter's ` +
      `${over.limit} of ${fmtBytes(limits[over.limit])}` +
      (widest > 0 ? `; the widest WRN-${c.depth} this adapter can hold is ${name({ ...c, width: widest })}` : ''),
  );
}

/**
 * The config of a reference WRN state_dict, from its tensors' shapes: depth from the blocks in block1, width
 * from the first block's conv, classes from fc. Returns the reason instead when the tensors are not a WRN's
 * (the full check of every name and shape follows, against the config's specs).
 */
export function inferWrnConfig(tensors: Record<string, TensorSpec>): WrnConfig | string {
  const shape = (n: string): readonly number[] | null => (Object.hasOwn(tensors, n) ? tensors[n].shape : null);
  const fc = shape('fc.weight');
  const stem = shape('conv1.weight');
  const conv = shape('block1.layer.0.conv1.weight');
  if (!fc || fc.length !== 2) return "no 'fc.weight' of shape [classes, channels]";
  if (!stem || stem.length !== 4) return "no 'conv1.weight' of shape [16, channels, 3, 3]";
  if (!conv || conv.length !== 4 || conv[0] % 16 !== 0 || conv[0] === 0)
    return "no 'block1.layer.0.conv1.weight' of shape [16*width, 16, 3, 3]";
  let n = 0;
  while (shape(`block1.layer.${n}.conv1.weight`)) n++;
  return { depth: 6 * n + 4, width: conv[0] / 16, classes: fc[0], inChannels: stem[1] };
}
