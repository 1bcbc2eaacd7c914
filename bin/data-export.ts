// `advfree data NAME --export FILE.safetensors`: what a model of this project sees, for any framework: the inputs
// (train.x, test.x: f32 after the dataset's preprocessing; images as byte / 255), the labels (train.y, test.y:
// i64), the threat model's box (lower, upper: f32; mutable: u8, one per input), and in the metadata the dataset,
// its classes, input names, threat models and preprocessing record.
import type { DatasetDescriptor, LoadedDataset, SplitData } from '../data/index.js';
import type { SafetensorsEntry } from '../nn/safetensors.js';

const inputs = (s: SplitData): Float32Array =>
  s.x instanceof Float32Array ? s.x : Float32Array.from(s.x, (v) => v / 255);

export function exportTensors(
  d: DatasetDescriptor,
  l: LoadedDataset,
): { entries: Record<string, SafetensorsEntry>; metadata: Record<string, string> } {
  const split = (s: SplitData): [SafetensorsEntry, SafetensorsEntry] => [
    { dtype: 'F32', shape: [s.count, ...s.shape], data: inputs(s) },
    { dtype: 'I64', shape: [s.count], data: BigInt64Array.from(s.y, (v) => BigInt(v)) },
  ];
  const [trainX, trainY] = split(l.train);
  const [testX, testY] = split(l.test);
  const shape = [...d.shape];
  return {
    entries: {
      'train.x': trainX,
      'train.y': trainY,
      'test.x': testX,
      'test.y': testY,
      lower: { dtype: 'F32', shape, data: l.box.lower },
      upper: { dtype: 'F32', shape, data: l.box.upper },
      mutable: { dtype: 'U8', shape, data: l.box.mutable },
    },
    metadata: {
      ...l.metadata,
      dataset: d.name,
      classes: JSON.stringify(d.classes),
      ...(l.features ? { features: JSON.stringify(l.features) } : {}),
      threat: JSON.stringify([d.threat, ...(d.otherThreats ?? [])]),
      ...(d.immutable ? { immutable: JSON.stringify(d.immutable) } : {}),
    },
  };
}
