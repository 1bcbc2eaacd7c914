// An experiment folder's finished runs copied to another folder, small enough to commit: each run's result.json
// and metrics.jsonl, never its checkpoints or weights. The copy is itself an experiment folder (once its plan.json
// is written): --status and --report read it, and the runner, given it as --out, skips the runs it holds, so a
// committed copy is a point to resume from on a bare machine. A run the copy already holds with other contents is
// replaced only when asked; a run folder there with other files (a run training into it) is never touched.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../nn/atomic.js';
import { RUN_FILES } from '../train/run-folder.js';
import type { RunSpec } from './plan.js';
import { finished } from './runner.js';

/** What an export copies of a finished run; result.json last, as it marks the run done. */
export const EXPORTED_RUN_FILES = [RUN_FILES.metrics, RUN_FILES.result] as const;

export interface ExportPlan {
  /** Finished runs the destination lacks, holds with other contents, or holds the same. */
  added: string[];
  replaced: string[];
  unchanged: string[];
  /** Why a run may not be written (a destination run folder with other files, or other contents without leave). */
  refused: string[];
}

const same = (a: string, b: string): boolean => existsSync(b) && readFileSync(a).equals(readFileSync(b));

/** Compares the finished runs of `out` with `dest`'s, writing nothing. */
export function planExport(out: string, dest: string, runs: readonly RunSpec[], replace: boolean): ExportPlan {
  const p: ExportPlan = { added: [], replaced: [], unchanged: [], refused: [] };
  for (const r of runs) {
    if (!finished(out, r)) continue;
    const from = join(out, 'runs', r.id);
    const to = join(dest, 'runs', r.id);
    const missing = EXPORTED_RUN_FILES.filter((f) => !existsSync(join(from, f)));
    if (missing.length) {
      p.refused.push(`${from} has no ${missing.join(' or ')}`);
      continue;
    }
    const other = existsSync(to)
      ? readdirSync(to).filter((f) => !(EXPORTED_RUN_FILES as readonly string[]).includes(f))
      : [];
    if (other.length) p.refused.push(`${to} holds ${other.join(', ')} (a run's own files), not an export`);
    else if (!existsSync(join(to, RUN_FILES.result))) p.added.push(r.id);
    else if (EXPORTED_RUN_FILES.every((f) => same(join(from, f), join(to, f)))) p.unchanged.push(r.id);
    else if (replace) p.replaced.push(r.id);
    else p.refused.push(`${to} holds other results of ${r.id} (pass --force to replace them)`);
  }
  return p;
}

/** Copies the added and replaced runs of `p` from `out` to `dest`. */
export async function exportRuns(out: string, dest: string, p: ExportPlan): Promise<void> {
  for (const id of [...p.added, ...p.replaced]) {
    const to = join(dest, 'runs', id);
    mkdirSync(to, { recursive: true });
    for (const f of EXPORTED_RUN_FILES) await writeFileAtomic(join(to, f), readFileSync(join(out, 'runs', id, f)));
  }
}
