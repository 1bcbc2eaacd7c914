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

/** Whether `dir` holds no experiment, the one whose plan is `text` (the same settings), or another. */
export function heldPlan(dir: string, text: string): 'none' | 'same' | 'other' {
  const held = readPlanFile(dir);
  if (!held) return 'none';
  return planText(held.preset, held.settings) === text ? 'same' : 'other';
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
