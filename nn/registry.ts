// The models: every family in nn/models/ (listed by scripts/gen-registries.mjs at build time). The --model flags,
// their help, checkpoint loading and the reader of foreign state_dicts go through this list.
import type { ModelDescriptor, ResolvedModel } from './model.js';
import { DESCRIPTORS } from './models/index.js';
import type { TensorSpec } from './safetensors-file.js';

export const MODELS: readonly ModelDescriptor[] = DESCRIPTORS;

/** 'wrn-DEPTH-WIDTH, mnist-net, mlp-WIDTHxDEPTH', for help and errors. */
export const MODEL_PATTERNS = MODELS.map((m) => m.pattern).join(', ');

/** The family a model name belongs to. */
export function findModel(name: string): ModelDescriptor {
  const d = MODELS.find((m) => m.matches(name));
  if (!d) throw new Error(`unknown model '${name}'; models: ${MODEL_PATTERNS}`);
  return d;
}

/** Checks a model name alone (for flags: the data is not known yet). */
export const checkModelName = (name: string): void => findModel(name).check(name);

/** The model `name` stands for on inputs of `input` shape with `classes` outputs (checked, not allocated). */
export const resolveModel = (name: string, input: readonly number[], classes: number): ResolvedModel =>
  findModel(name).resolve(name, input, classes);

/** The model a state_dict without metadata holds, from its tensors, or why no family recognises it. */
export function inferModel(tensors: Record<string, TensorSpec>): string | { not: string } {
  const reasons: string[] = [];
  for (const m of MODELS) {
    const r = m.infer(tensors);
    if (typeof r === 'string') return r;
    reasons.push(`not ${m.pattern}: ${r.not}`);
  }
  return { not: reasons.join('; ') };
}
