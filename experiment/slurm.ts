// An experiment on a Slurm cluster: one array job whose task i runs run i of the plan (`advfree experiment --out
// OUT --task ID`, resumable and locked as the local executor's runs), and a job that writes the report once the
// array has ended, however its tasks ended (afterany). The shared file system is the only coupling between them:
// the plan file, the run folders and the data cache. Each submission's scripts, job ids and logs are in OUT/slurm/.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../nn/atomic.js';
import type { RunSpec } from './plan.js';

export const SLURM_DIR = 'slurm';
const JOBS_FILE = 'jobs.jsonl';

export interface Submission {
  /** The command that starts advfree on the cluster's nodes: node and the CLI script, absolute. */
  advfree: string[];
  /** The experiment folder, absolute (the jobs run elsewhere). */
  out: string;
  preset: string;
  /** The plan's runs, in plan order: the array index is the plan index. */
  runs: readonly RunSpec[];
  /** The plan indices to submit (the runs not done). */
  todo: readonly number[];
  /** Flags each task passes on to advfree (--data-dir, --backend, --adapter). */
  taskFlags: readonly string[];
  /** sbatch options of the array job (--sbatch) and of the report job (--sbatch-report), after ours: theirs win. */
  sbatch: readonly string[];
  sbatchReport: readonly string[];
}

export interface Submitted {
  array: string;
  report: string;
  /** The submission's number in OUT/slurm/jobs.jsonl (its scripts are array-N.sh and report-N.sh). */
  number: number;
}

/** Quotes a word for bash where it needs it. */
export const shellWord = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Splits --sbatch "ARGS" into words, as a shell would for plain words and '...' or "..." quoting. */
export function splitArgs(s: string): string[] {
  const words = s.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
  return words.map((w) => w.replace(/"([^"]*)"|'([^']*)'/g, (_m, a, b) => a ?? b));
}

/** Array indices as sbatch's --array takes them: ranges of consecutive indices (0-3,5,7-8). */
export function arraySpec(indices: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length;) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) j++;
    parts.push(j > i ? `${indices[i]}-${indices[j]}` : `${indices[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

const command = (s: Submission, flags: string[]): string =>
  [...s.advfree, 'experiment', '--out', s.out, ...flags].map(shellWord).join(' ');

/** The array job's script: the plan's run ids, indexed by the array task id. */
export function arrayScript(s: Submission): string {
  return [
    '#!/bin/bash',
    `# advfree experiment ${s.out} (preset ${s.preset}): array task i runs run i of the plan. A task whose run is done`,
    '# exits at once; a stopped one resumes from its checkpoint; on SIGTERM (scancel, time limit, preemption) it',
    '# checkpoints and exits, so a resubmitted or requeued task continues.',
    `RUNS=(${s.runs.map((r) => shellWord(r.id)).join(' ')})`,
    `exec ${command(s, [...s.taskFlags, '--task'])} "\${RUNS[$SLURM_ARRAY_TASK_ID]}"`,
    '',
  ].join('\n');
}

export function reportScript(s: Submission): string {
  return [
    '#!/bin/bash',
    `# advfree experiment ${s.out}: the report from the runs done, once the array job has ended.`,
    `exec ${command(s, ['--report'])}`,
    '',
  ].join('\n');
}

/** Runs sbatch --parsable; returns the job id. */
function sbatch(args: string[]): string {
  let stdout: string;
  try {
    stdout = execFileSync('sbatch', ['--parsable', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new Error(
        'sbatch not found: --executor slurm submits from a machine of a Slurm cluster (a login node); elsewhere use --executor local',
      );
    throw new Error(`sbatch ${args.join(' ')} failed: ${(err.stderr || err.message).trim()}`);
  }
  // --parsable prints "jobid" or "jobid;cluster".
  const id = stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new Error(`sbatch printed '${stdout.trim()}', not a job id`);
  return id;
}

/** The submissions so far, oldest first. */
export function submissions(out: string): (Submitted & { runs: string[]; submitted: string })[] {
  const file = join(out, SLURM_DIR, JOBS_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** Writes the two scripts and submits them: the array, then the report job that waits for it. */
export async function submit(s: Submission): Promise<Submitted> {
  const dir = join(s.out, SLURM_DIR);
  mkdirSync(dir, { recursive: true });
  const number = submissions(s.out).length + 1;
  const arrayFile = join(dir, `array-${number}.sh`);
  const reportFile = join(dir, `report-${number}.sh`);
  await writeFileAtomic(arrayFile, arrayScript(s));
  await writeFileAtomic(reportFile, reportScript(s));
  const name = `advfree-${s.preset}`;
  const array = sbatch([
    `--job-name=${name}`,
    `--array=${arraySpec(s.todo)}`,
    `--output=${join(dir, '%A_%a.out')}`,
    '--open-mode=append',
    ...s.sbatch,
    arrayFile,
  ]);
  let report: string;
  try {
    report = sbatch([
      `--job-name=${name}-report`,
      `--dependency=afterany:${array}`,
      `--output=${join(dir, 'report-%j.out')}`,
      ...s.sbatchReport,
      reportFile,
    ]);
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\nThe array job ${array} was submitted; once it has ended, write the report with: ${command(s, ['--report'])}`,
    );
  }
  appendFileSync(
    join(dir, JOBS_FILE),
    `${JSON.stringify({ number, array, report, runs: s.todo.map((i) => s.runs[i].id), submitted: new Date().toISOString() })}\n`,
  );
  return { array, report, number };
}
