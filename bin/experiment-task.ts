// One run of an experiment folder, as a Slurm array task runs it (`advfree experiment --out OUT --task ID`): the
// run's plan comes from OUT/plan.json; a run already done exits 0 at once; SIGTERM (scancel, the time limit,
// preemption) stops training after the current minibatch with a checkpoint there, so that the task resubmitted or
// requeued resumes; a second SIGTERM, or SIGKILL after Slurm's KillWait, ends it at once (the latest checkpoint
// stays complete: train/run-folder.ts).
import { ATTACKS } from '../adversarial/attack-registry.js';
import { defaultDataDir } from '../data/index.js';
import { init, shutdown } from '../engine/index.js';
import { folderPlan } from '../experiment/plan-file.js';
import { attacks } from '../experiment/plan.js';
import { finished, runConfig, runOne } from '../experiment/runner.js';
import type { Datasets, RunConfig } from '../train/run-config.js';
import { CliError, type GlobalValues } from './args.js';
import { loadData } from './train.js';

/** A run's data, through the cache of --data-dir (datasets generated in memory need none). */
export const runData = (c: RunConfig, flags: { 'data-dir'?: string }): Promise<Datasets> =>
  loadData(c, flags['data-dir'] ?? defaultDataDir());

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

export async function runTask(out: string, id: string, flags: GlobalValues & { 'data-dir'?: string }): Promise<number> {
  const { settings, runs } = folderPlan(out);
  const run = runs.find((r) => r.id === id);
  if (!run)
    throw new CliError(`--task ${id}: ${out}'s plan has no such run; its runs: ${runs.map((r) => r.id).join(', ')}`);
  const log = (l: string) => console.error(l);
  if (finished(out, run)) {
    log(`experiment: ${id} already done`);
    return 0;
  }
  const stop = new AbortController();
  for (const [signal, n] of Object.entries(SIGNALS)) {
    process.on(signal, () => {
      if (stop.signal.aborted) process.exit(128 + n);
      log(`experiment: ${id}: ${signal}: stopping after the current minibatch, with a checkpoint there`);
      stop.abort(new Error(signal));
    });
  }
  await init({ backend: flags.backend, adapter: flags.adapter });
  try {
    await runOne(
      out,
      settings,
      run,
      attacks(
        settings,
        ATTACKS.map((a) => a.name),
      ),
      await runData(runConfig(settings, run), flags),
      log,
      stop.signal,
    );
    return 0;
  } catch (e) {
    if (!stop.signal.aborted) throw e;
    const signal = (stop.signal.reason as Error).message as keyof typeof SIGNALS;
    log(
      `experiment: ${id}: stopped by ${signal}; a task run again (resubmitted or requeued) resumes from its checkpoint`,
    );
    return 128 + SIGNALS[signal];
  } finally {
    shutdown();
  }
}
