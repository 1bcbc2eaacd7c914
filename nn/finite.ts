// Values a model must never be trained on, saved with or evaluated with: NaN and ±Inf anywhere, and a negative
// batch-norm running variance (its square root is NaN in eval mode). Like PyTorch's anomaly detection, the
// report names each tensor and counts its bad values, so that a diverged run is told apart from a damaged file.

export interface BadTensor {
  name: string;
  size: number;
  nan: number;
  inf: number;
  negative: number;
}

/** Batch norm's running variance (state_dict name '...running_var'), which must also be >= 0. */
const isVariance = (name: string): boolean => name.endsWith('running_var');

/** The tensors among `tensors` (in their order) holding NaN, ±Inf or, for a running variance, negative values. */
export function badTensors(tensors: Iterable<[string, ArrayLike<number>]>): BadTensor[] {
  const bad: BadTensor[] = [];
  for (const [name, data] of tensors) {
    const variance = isVariance(name);
    let nan = 0;
    let inf = 0;
    let negative = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v !== v) nan++;
      else if (v === Infinity || v === -Infinity) inf++;
      else if (variance && v < 0) negative++;
    }
    if (nan + inf + negative > 0) bad.push({ name, size: data.length, nan, inf, negative });
  }
  return bad;
}

/** "'conv1.weight' (3 NaN, 1 Inf of 432 values)". */
export function describeBad(b: BadTensor): string {
  const counts = [
    [b.nan, 'NaN'],
    [b.inf, 'Inf'],
    [b.negative, 'negative'],
  ]
    .filter(([n]) => n)
    .map(([n, what]) => `${n} ${what}`);
  return `'${b.name}' (${counts.join(', ')} of ${b.size} values)`;
}

/** Throws unless every F32 tensor of a model file is usable, naming each bad tensor and its counts. */
export function checkUsable(
  file: string,
  tensors: Record<string, { dtype: string; data: ArrayLike<number> | BigInt64Array }>,
): void {
  const f32 = Object.entries(tensors).filter(([, t]) => t.dtype === 'F32') as [string, { data: ArrayLike<number> }][];
  const bad = badTensors(f32.map(([name, t]) => [name, t.data]));
  if (!bad.length) return;
  throw new Error(
    `${file}: ${bad.length} of its ${f32.length} tensors hold values a model cannot be used with (NaN, Inf, or a negative batch-norm ` +
      `running_var: the run diverged or the file is damaged): ${bad.map(describeBad).join(', ')}; refusing to load it. ` +
      'Use an earlier checkpoint of the run (its checkpoints/ folder)',
  );
}
