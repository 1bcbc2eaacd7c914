// The experiment folder's plan file, OUT/plan.json: the preset's name and settings. It defines the experiment: a
// rerun continues the folder only with the same settings, and the Slurm tasks, --status and --report read it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { plan, type Preset, type RunSpec } from './plan.js';

export const PLAN_FILE = 'plan.json';

export interface PlanFile {
  preset: string;
  settings: Preset;
}

export const planText = (preset: string, settings: Preset): string =>
  `${JSON.stringify({ preset, settings }, null, 2)}\n`;

/** The folder's plan, or null where it has none. */
export function readPlanFile(out: string): PlanFile | null {
  const file = join(out, PLAN_FILE);
  if (!existsSync(file)) return null;
  const p = JSON.parse(readFileSync(file, 'utf8')) as PlanFile;
  if (typeof p.preset !== 'string' || typeof p.settings !== 'object')
    throw new Error(`${file}: not an experiment plan (expected {preset, settings})`);
  return p;
}

/**
 * Whether `dir` holds no experiment, this one (the same settings), this one with fewer seeds (the same settings but
 * a seed list that the new one extends at its end: the folder grows, its finished runs stay), or another.
 */
export function heldPlan(dir: string, preset: string, settings: Preset): 'none' | 'same' | 'grown' | 'other' {
  const held = readPlanFile(dir);
  if (!held) return 'none';
  const text = planText(preset, settings);
  if (planText(held.preset, held.settings) === text) return 'same';
  const from = held.settings.seeds;
  const extends_ =
    Array.isArray(from) && settings.seeds.length > from.length && from.every((s, i) => settings.seeds[i] === s);
  return extends_ && planText(held.preset, { ...held.settings, seeds: settings.seeds }) === text ? 'grown' : 'other';
}

/** The folder's plan and its runs; throws naming the folder where there is none. */
export function folderPlan(out: string): PlanFile & { runs: RunSpec[]; skipped: string[] } {
  const p = readPlanFile(out);
  if (!p)
    throw new Error(
      `${out} holds no experiment (no ${PLAN_FILE}); start one with advfree experiment --preset P --out ${out}`,
    );
  return { ...p, ...plan(p.settings) };
}
