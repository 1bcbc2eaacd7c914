// The Slurm executor. Everywhere: the array and report scripts (task i runs run i, paths quoted) and their
// submission through a stand-in sbatch (the array of the runs not done, the report job after it, the record).
// With Slurm (installed by scripts/slurm-test-cluster.sh where this runs as root, as CI does): a one-machine
// cluster runs the tiny preset on generated data; the report equals the local executor's number for number; a
// task cancelled mid-run checkpoints on SIGTERM, the report job still writes a partial report, and the run
// resubmitted resumes from that checkpoint to the same numbers. Without Slurm or root, that part says it is
// skipped and why. The CLI cases run the built dist/advfree.mjs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { plan, PRESETS } from '../experiment/plan.js';
import {
  arrayScript,
  arraySpec,
  reportScript,
  splitArgs,
  submissions,
  submit,
  type Submission,
} from '../experiment/slurm.js';
import { withoutTimes } from './helpers.js';

const t = suite('slurm');
const CLI = fileURLToPath(new URL('../advfree.mjs', import.meta.url));
const CLUSTER_SCRIPT = fileURLToPath(new URL('../../scripts/slurm-test-cluster.sh', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'advfree-slurm-'));
const runs = plan(PRESETS.tiny).runs;

const submission = (out: string, over: Partial<Submission> = {}): Submission => ({
  advfree: ['echo'],
  out,
  preset: 'tiny',
  runs,
  todo: [0, 1],
  taskFlags: ['--data-dir', '/shared/data'],
  sbatch: [],
  sbatchReport: [],
  ...over,
});

t('splitting --sbatch and writing --array', () => {
  assert.equal(splitArgs(` --partition=gpu  --job-name="a b" --comment='x "y"' `), [
    '--partition=gpu',
    '--job-name=a b',
    '--comment=x "y"',
  ]);
  assert.equal(arraySpec([0, 1, 2, 3, 5, 7, 8]), '0-3,5,7-8');
  assert.equal(arraySpec([4]), '4');
});

t('the array script runs run i of the plan for task i, every path quoted; the report script writes the report', () => {
  const out = join(tmp, "it's here");
  const s = submission(out);
  const script = join(tmp, 'array.sh');
  writeFileSync(script, arrayScript(s));
  for (const [i, r] of runs.entries()) {
    const said = execFileSync('bash', [script], {
      env: { ...process.env, SLURM_ARRAY_TASK_ID: String(i) },
      encoding: 'utf8',
    });
    assert.is(said, `experiment --out ${out} --data-dir /shared/data --task ${r.id}\n`);
  }
  writeFileSync(script, reportScript(s));
  assert.is(execFileSync('bash', [script], { encoding: 'utf8' }), `experiment --out ${out} --report\n`);
});

t(
  'submit: the array of the runs to do, then the report job after it (afterany), our options before theirs, recorded',
  async () => {
    const bin = join(tmp, 'fake-bin');
    mkdirSync(bin, { recursive: true });
    const log = join(tmp, 'sbatch.log');
    // A stand-in sbatch: records its arguments, answers job ids 101, 102, ... as --parsable does (with a cluster name).
    writeFileSync(
      join(bin, 'sbatch'),
      `#!/bin/sh\necho "$*" >> '${log}'\necho "$((100 + $(wc -l < '${log}')));cluster"\n`,
    );
    chmodSync(join(bin, 'sbatch'), 0o755);
    const out = join(tmp, 'submit');
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const s = submission(out, { todo: [1], sbatch: ['--time=1:00:00', '--requeue'], sbatchReport: ['--time=10'] });
      assert.equal(await submit(s), { array: '101', report: '102', number: 1 });
      const dir = join(out, 'slurm');
      assert.equal(readFileSync(log, 'utf8').trim().split('\n'), [
        `--parsable --job-name=advfree-tiny --array=1 --output=${dir}/%A_%a.out --open-mode=append --time=1:00:00 --requeue ${dir}/array-1.sh`,
        `--parsable --job-name=advfree-tiny-report --dependency=afterany:101 --output=${dir}/report-%j.out --time=10 ${dir}/report-1.sh`,
      ]);
      assert.is(readFileSync(join(dir, 'array-1.sh'), 'utf8'), arrayScript(s));
      const [rec] = submissions(out);
      assert.equal([rec.number, rec.array, rec.report, rec.runs], [1, '101', '102', [runs[1].id]]);
      assert.is((await submit(s)).number, 2, 'a second submission gets the next number');
    } finally {
      process.env.PATH = path;
    }
  },
);

// The cluster: started once, by the first test below that needs it.
let cluster: { dir: string; env: NodeJS.ProcessEnv } | null = null;
let skipped: string | null = null;

function startCluster(): boolean {
  if (cluster) return true;
  if (skipped) return false;
  const dir = join(tmp, 'cluster');
  const t0 = performance.now();
  const r = spawnSync('bash', [CLUSTER_SCRIPT, 'start', dir], { encoding: 'utf8' });
  if (r.status === 3) {
    skipped = r.stderr.trim();
    console.log(`slurm: the cluster tests are skipped: ${skipped}`);
    return false;
  }
  assert.is(r.status, 0, `the test cluster did not start:\n${r.stderr}`);
  console.log(
    `slurm: ${r.stderr.trim() ? `${r.stderr.trim()}; ` : ''}cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  cluster = { dir, env: { ...process.env, SLURM_CONF: join(dir, 'slurm.conf') } };
  return true;
}

t.after(() => {
  if (cluster) spawnSync('bash', [CLUSTER_SCRIPT, 'stop', cluster.dir], { stdio: 'inherit' });
  rmSync(tmp, { recursive: true, force: true });
});

function advfree(...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, 'experiment', ...args], {
    env: cluster?.env ?? process.env,
    encoding: 'utf8',
  });
  assert.is(r.status, 0, `advfree experiment ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function until(what: string, ok: () => boolean, seconds: number): Promise<void> {
  for (const end = Date.now() + seconds * 1000; !ok(); await sleep(200)) {
    if (Date.now() > end) assert.unreachable(`waited ${seconds} s for ${what}`);
  }
}

/** Waits until the jobs have left the queue (ended, however). */
const jobsEnd = (ids: string[], seconds: number) =>
  until(
    `jobs ${ids} to end`,
    () =>
      execFileSync('squeue', ['-h', '-j', ids.join(','), '-o', '%i'], {
        env: cluster!.env,
        encoding: 'utf8',
      }).trim() === '',
    seconds,
  );

const report = (out: string) => JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8'));
const local = join(tmp, 'local');
const out = join(tmp, 'slurm');

t('cluster: the local executor makes the reference report', async () => {
  if (!startCluster()) return;
  advfree('--preset', 'tiny', '--out', local);
  assert.equal(report(local).pending, []);
});

t(
  'cluster: a task cancelled mid-run checkpoints; the report job writes what is done, equal to the local numbers',
  async () => {
    if (!cluster) return;
    const t0 = performance.now();
    const said = advfree('--preset', 'tiny', '--out', out, '--executor', 'slurm');
    const [first] = submissions(out);
    assert.match(said, new RegExp(`submitted array job ${first.array} .*\\n.*report job ${first.report}`));
    assert.match(said, new RegExp(`--status +queue: squeue -j ${first.array},${first.report}`));
    // The natural run (task 0) has 4 epochs of 4 minibatches: cancel it once it has started training.
    const metrics = join(out, 'runs', runs[0].id, 'metrics.jsonl');
    await until(
      'the natural run to start training',
      () => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"type":"start"'),
      120,
    );
    execFileSync('scancel', [`${first.array}_0`], { env: cluster.env });
    await jobsEnd([first.array, first.report], 180);
    const log = readFileSync(join(out, 'slurm', `${first.array}_0.out`), 'utf8');
    assert.match(log, /natural-e4-s0: SIGTERM: stopping after the current minibatch/);
    assert.match(log, /natural-e4-s0: stopped by SIGTERM/);
    const stoppedAt = Number(/step-(\d+)/.exec(readFileSync(join(out, 'runs', runs[0].id, 'latest'), 'utf8'))![1]);
    assert.ok(stoppedAt >= 1 && stoppedAt < 16, `checkpointed mid-run, at step ${stoppedAt} of 16`);
    const status = advfree('--out', out, '--status');
    assert.match(status, new RegExp(`${runs[0].id} +stopped +\\d of 4 epochs, checkpoint at step ${stoppedAt}\\n`));
    assert.match(status, new RegExp(`${runs[1].id} +done +clean`));
    // The report job ran although a task failed (afterany): partial, and the run done equals the local one.
    const partial = report(out);
    assert.equal(partial.pending, [runs[0].id]);
    assert.match(
      readFileSync(join(out, 'experiment.md'), 'utf8'),
      /\*\*Partial: 1 of 2 runs done; still to run: natural-e4-s0\.\*\*/,
    );
    assert.equal(
      withoutTimes(partial.runs),
      withoutTimes(report(local).runs.filter((r: { id: string }) => r.id === runs[1].id)),
    );
    // A task given a run that is done exits 0 at once (no GPU, no training).
    assert.match(
      spawnSync(process.execPath, [CLI, 'experiment', '--out', out, '--task', runs[1].id], { encoding: 'utf8' }).stderr,
      /free-2-e2-s0 already done/,
    );
    console.log(`slurm: submit, cancel, partial report: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  },
);

t(
  'cluster: resubmitted, the stopped run resumes from its checkpoint; the report equals the local one number for number',
  async () => {
    if (!cluster) return;
    const t0 = performance.now();
    advfree('--out', out, '--executor', 'slurm');
    const second = submissions(out)[1];
    assert.equal(second.runs, [runs[0].id], 'only the run not done is submitted');
    await jobsEnd([second.array, second.report], 180);
    const resumes = readFileSync(join(out, 'runs', runs[0].id, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"type":"resume"'));
    assert.is(resumes.length, 1, 'resumed once');
    assert.match(resumes[0], /"from":"checkpoints\/step-\d+"/);
    const full = report(out);
    assert.equal(full.pending, []);
    assert.equal(withoutTimes(full.runs), withoutTimes(report(local).runs));
    assert.equal(withoutTimes(full.rows), withoutTimes(report(local).rows));
    assert.not.match(readFileSync(join(out, 'experiment.md'), 'utf8'), /Partial/);
    console.log(`slurm: resubmit to the full report: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  },
);

t.run();
