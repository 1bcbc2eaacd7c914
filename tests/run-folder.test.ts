// The run folder: one run at a time (a lock with the pid, stale locks of dead processes taken over, released on
// SIGINT/SIGTERM), nothing a run would write is overwritten by a new run, the checkpoint pair survives a kill at
// every point of its write sequence (and resume from whatever is left is exact), and the CLI refuses conflicting
// flags on --resume, naming each. The CLI cases run the built dist/advfree.mjs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Trainer } from '../train/trainer.js';
import { CRASH_POINTS, RunFolder } from '../train/run-folder.js';
import { helpText, parseCommand, type FlagsOf } from '../bin/args.js';
import { train } from '../bin/train.js';
import { methodConflicts } from '../bin/method-flags.js';
import { rt } from '../engine/index.js';
import { fmtBytes } from '../data/disk-space.js';
import { batchOver } from '../nn/model-size.js';
import { resolveModel } from '../nn/registry.js';
import { ready, scratch } from './helpers.js';
import { cliRefuses } from './cli-run.js';
import { config, DATA, weights } from './synthetic-run.js';

// This file doubles as the child process of the lock and crash tests: ADVFREE_RUN_FOLDER_CHILD='hold DIR' takes
// DIR's lock and waits to be signalled ('hold-handled DIR': with its own SIGTERM handler, which says whether the
// lock is still there and exits); 'train DIR' trains the synthetic run into DIR up to step 4.
const CHILD = process.env.ADVFREE_RUN_FOLDER_CHILD;
if (CHILD) {
  const [mode, dir] = CHILD.split(' ');
  if (mode.startsWith('hold')) {
    RunFolder.open(dir, 'new');
    if (mode === 'hold-handled') {
      process.on('SIGTERM', () => {
        process.stdout.write(existsSync(join(dir, 'lock')) ? 'kept\n' : 'released\n');
        process.exit(0);
      });
    }
    process.stdout.write('locked\n');
    // Waits here (never reaching the tests below) until signalled.
    setInterval(() => {}, 1000);
    await new Promise(() => {});
  } else {
    await ready();
    await new Trainer(config(), DATA).run({ out: dir, maxSteps: 4, progress: false, log: () => {} });
    process.exit(0);
  }
}

const t = suite('run-folder');
t.before(ready);

const { tmp, fresh } = scratch(t, 'run-folder');
const quiet = { progress: false, log: () => {} };
const SELF = fileURLToPath(import.meta.url);

function refuses(fn: () => unknown, message: string): void {
  try {
    fn();
  } catch (e) {
    assert.is((e as Error).message, message);
    return;
  }
  assert.unreachable(`expected the error: ${message}`);
}

const lockOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'lock'), 'utf8'));

t('a second run into a folder in use is refused, naming the folder, the process and what to do', () => {
  const dir = fresh();
  const first = RunFolder.open(dir, 'new');
  const lock = lockOf(dir);
  assert.equal([lock.pid, lock.host], [process.pid, hostname()]);
  assert.ok(Math.abs(Date.parse(lock.started) - Date.now()) < 60_000, `start time ${lock.started}`);
  refuses(
    () => RunFolder.open(dir, 'new'),
    `${dir} is in use by another run (process ${process.pid} on ${hostname()}, started ${lock.started}): wait for it to finish or stop it (kill ${process.pid})`,
  );
  first.release();
  assert.not.ok(existsSync(join(dir, 'lock')), 'released');
  RunFolder.open(dir, 'new').release();
});

t('a lock left by a dead process is taken over with a note; one from another host is not', () => {
  const dir = fresh();
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const started = '2026-01-01T00:00:00.000Z';
  writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: dead, host: hostname(), started }));
  const notes: string[] = [];
  const f = RunFolder.open(dir, 'new', (l) => notes.push(l));
  assert.equal(notes, [
    `advfree: ${dir}: taking over the lock of process ${dead} (started ${started}), which no longer runs`,
  ]);
  assert.is(lockOf(dir).pid, process.pid);
  f.release();
  writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: dead, host: 'elsewhere', started }));
  refuses(
    () => RunFolder.open(dir, 'new'),
    `${dir} is in use by another run (process ${dead} on elsewhere, started ${started}): this is ${hostname()}, so whether it still runs cannot be checked here; if it is gone, delete ${join(dir, 'lock')}`,
  );
  assert.is(lockOf(dir).host, 'elsewhere', "the other host's lock is left alone");
});

t(
  "under Slurm, a lock of this very job from another host (an earlier run of the requeued job) is taken over; another job's is not",
  () => {
    const dir = fresh();
    const path = join(dir, 'lock');
    const started = '2026-01-01T00:00:00.000Z';
    const saved = process.env.SLURM_JOB_ID;
    process.env.SLURM_JOB_ID = '77';
    try {
      writeFileSync(path, JSON.stringify({ pid: 4242, host: 'node-7', started, job: '77' }));
      const notes: string[] = [];
      const f = RunFolder.open(dir, 'new', (l) => notes.push(l));
      assert.equal(notes, [
        `advfree: ${dir}: taking over the lock of process 4242 on node-7 (started ${started}), which no longer runs`,
      ]);
      assert.equal([lockOf(dir).pid, lockOf(dir).job], [process.pid, '77'], 'the new lock names this job');
      f.release();
      writeFileSync(path, JSON.stringify({ pid: 4242, host: 'node-7', started, job: '76' }));
      refuses(
        () => RunFolder.open(dir, 'new'),
        `${dir} is in use by another run (process 4242 on node-7, started ${started}, Slurm job 76): this is ${hostname()}, so whether it still runs cannot be checked here (squeue -j 76 says whether its job does); if it is gone, delete ${path}`,
      );
    } finally {
      if (saved === undefined) delete process.env.SLURM_JOB_ID;
      else process.env.SLURM_JOB_ID = saved;
    }
  },
);

t(
  'a process with its own SIGTERM handler (a Slurm task that checkpoints first) keeps the lock until it exits',
  async () => {
    const dir = fresh();
    const child = spawn(process.execPath, [SELF], {
      env: { ...process.env, ADVFREE_RUN_FOLDER_CHILD: `hold-handled ${dir}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let said = '';
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d) => {
        said += String(d);
        if (said.includes('locked')) res();
      });
      child.on('exit', () => rej(new Error('the child exited before taking the lock')));
    });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill('SIGTERM');
    assert.is(await exited, 0, 'its handler ended it');
    assert.is(said, 'locked\nkept\n', 'the lock was still held when its handler ran');
    assert.not.ok(existsSync(join(dir, 'lock')), 'released at exit');
  },
);

t(
  'a lock whose pid now names another process (reused, or after a restart) is taken over with a note; that process is left alone',
  async () => {
    const dir = fresh();
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((res) => sleeper.once('spawn', res));
    const pid = sleeper.pid!;
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const ticks = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[22 - 3];
      const now = new Date().toISOString();
      const lockFile = join(dir, 'lock');
      const stale = (text: string, why: RegExp) => {
        writeFileSync(lockFile, text);
        const notes: string[] = [];
        RunFolder.open(dir, 'new', (l) => notes.push(l)).release();
        assert.is(notes.length, 1);
        assert.match(notes[0], why);
      };
      const reused = (started: string) =>
        new RegExp(
          `^advfree: ${dir}: taking over the lock of process ${pid} \\(started ${started.replace(/\./g, '\\.')}\\), which no longer runs: pid ${pid} now belongs to another process, started (\\S+) \\(a reused pid\\)$`,
        );
      // A lock of an older version (pid, host, time only) written in 2020: the sleep started long after it.
      stale(
        JSON.stringify({ pid, host: hostname(), started: '2020-01-01T00:00:00.000Z' }),
        reused('2020-01-01T00:00:00.000Z'),
      );
      // A lock of this version whose process started at another tick than the sleep.
      stale(
        JSON.stringify({ pid, host: hostname(), started: now, boot, pidStart: String(Number(ticks) - 1) }),
        reused(now),
      );
      // A lock written before this machine restarted.
      stale(
        JSON.stringify({ pid, host: hostname(), started: now, boot: 'another-boot', pidStart: ticks }),
        new RegExp(
          `^advfree: ${dir}: taking over the lock of process ${pid} \\(started ${now.replace(/\./g, '\\.')}\\), written before this machine restarted \\(pid ${pid} now belongs to another process\\)$`,
        ),
      );
      // The sleep's own identity: a live holder, refused with the advice to stop it (it is the holder).
      writeFileSync(lockFile, JSON.stringify({ pid, host: hostname(), started: now, boot, pidStart: ticks }));
      refuses(
        () => RunFolder.open(dir, 'new'),
        `${dir} is in use by another run (process ${pid} on ${hostname()}, started ${now}): wait for it to finish or stop it (kill ${pid})`,
      );
      assert.is(sleeper.exitCode, null, 'the sleep still runs');
      const started = /started (\S+) \(a reused pid\)/;
      writeFileSync(lockFile, JSON.stringify({ pid, host: hostname(), started: '2020-01-01T00:00:00.000Z' }));
      const notes: string[] = [];
      RunFolder.open(dir, 'new', (l) => notes.push(l)).release();
      assert.ok(
        Math.abs(Date.parse(started.exec(notes[0])![1]) - Date.now()) < 60_000,
        `the sleep's start time, from /proc: ${notes[0]}`,
      );
    } finally {
      sleeper.kill();
    }
  },
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  t(`the lock is released when the run is stopped with ${signal}`, async () => {
    const dir = fresh();
    const child = spawn(process.execPath, [SELF], {
      env: { ...process.env, ADVFREE_RUN_FOLDER_CHILD: `hold ${dir}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d) => String(d).includes('locked') && res());
      child.on('exit', () => rej(new Error('the child exited before taking the lock')));
    });
    assert.is(lockOf(dir).pid, child.pid);
    refuses(
      () => RunFolder.open(dir, 'new'),
      `${dir} is in use by another run (process ${child.pid} on ${hostname()}, started ${lockOf(dir).started}): wait for it to finish or stop it (kill ${child.pid})`,
    );
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
    child.kill(signal);
    assert.is(await exited, signal, 'the signal still ends the process');
    assert.not.ok(existsSync(join(dir, 'lock')), 'lock released');
  });
}

t('a new run refuses a folder holding any file a run writes, and changes nothing', async () => {
  for (const [name, make] of [
    ['model.safetensors', (p: string) => writeFileSync(p, 'my model')],
    ['metrics.jsonl', (p: string) => writeFileSync(p, '{}\n')],
    ['train-state.safetensors', (p: string) => writeFileSync(p, 'state')],
    ['latest', (p: string) => writeFileSync(p, 'checkpoints/step-000001\n')],
    ['checkpoints', (p: string) => mkdirSync(p)],
  ] as const) {
    const dir = fresh();
    make(join(dir, name));
    const fix = ['latest', 'train-state.safetensors'].includes(name)
      ? `Continue that run with --resume ${dir}, or pick another --out`
      : 'There is no checkpoint to resume: move it away, or pick another --out';
    const message = `${dir} already holds ${name}; a new run would overwrite it (nothing was changed). ${fix}`;
    refuses(() => RunFolder.open(dir, 'new'), message);
    const tr = new Trainer(config(), DATA);
    try {
      await tr.run({ out: dir, ...quiet });
      assert.unreachable('the trainer overwrote the folder');
    } catch (e) {
      assert.is((e as Error).message, message);
    }
    tr.dispose();
    assert.equal(readdirSync(dir), [name], 'nothing added, the lock released');
    if (name === 'model.safetensors') assert.is(readFileSync(join(dir, name), 'utf8'), 'my model');
  }
});

t('a kill at every point of the checkpoint write leaves a complete pair, and resume from it is exact', async () => {
  const ref = new Trainer(config(), DATA);
  await ref.run({ out: fresh(), ...quiet });
  const want = await weights(ref);
  ref.dispose();
  const crashed = await Promise.all(
    CRASH_POINTS.map(async (point) => {
      const dir = fresh();
      const child = spawn(process.execPath, [SELF], {
        env: { ...process.env, ADVFREE_RUN_FOLDER_CHILD: `train ${dir}`, ADVFREE_TEST_CRASH_AT: `${point}@4` },
        stdio: 'ignore',
      });
      const signal = await new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
      return { point, dir, signal };
    }),
  );
  const switched = CRASH_POINTS.indexOf('pointer-switched');
  for (const [i, { point, dir, signal }] of crashed.entries()) {
    assert.is(signal, 'SIGKILL', `${point}: the child killed itself`);
    const step = i < switched ? 3 : 4;
    assert.is(readFileSync(join(dir, 'latest'), 'utf8'), `checkpoints/step-00000${step}\n`, `${point}: latest`);
    const notes: string[] = [];
    const tr = await Trainer.resume(dir, async () => DATA);
    assert.is(tr.stepsDone, step, `${point}: resumed at step ${step}`);
    await tr.run({ out: dir, progress: false, log: (l) => notes.push(l) });
    const got = await weights(tr);
    want.forEach((w, k) =>
      assert.equal(Array.from(got[k]), Array.from(w), `${point}: parameter ${k} as in the uninterrupted run`),
    );
    assert.ok(
      notes.some((n) => n.includes('taking over the lock of process')),
      `${point}: the dead child's lock was taken over: ${notes}`,
    );
    assert.equal(
      readdirSync(join(dir, 'checkpoints')).sort(),
      [`step-00000${step}`, 'step-000006'],
      `${point}: the previous pair kept, leftovers pruned`,
    );
    assert.ok(
      readFileSync(join(dir, 'model.safetensors')).equals(
        readFileSync(join(dir, 'checkpoints/step-000006/model.safetensors')),
      ),
      `${point}: DIR/model.safetensors`,
    );
    tr.dispose();
  }
});

t(
  'a run folder written before checkpoints/ existed (model and state side by side) resumes, then moves to pairs',
  async () => {
    const dir = fresh();
    const first = new Trainer(config(), DATA);
    await first.run({ out: dir, maxSteps: 2, ...quiet });
    first.dispose();
    // The layout before: DIR/model.safetensors and DIR/train-state.safetensors, no pointer.
    for (const f of ['model.safetensors', 'train-state.safetensors'])
      renameSync(join(dir, 'checkpoints/step-000002', f), join(dir, f));
    rmSync(join(dir, 'checkpoints'), { recursive: true });
    rmSync(join(dir, 'latest'));
    const tr = await Trainer.resume(dir, async () => DATA);
    assert.is(tr.stepsDone, 2);
    await tr.run({ out: dir, maxSteps: 4, ...quiet });
    tr.dispose();
    assert.is(readFileSync(join(dir, 'latest'), 'utf8'), 'checkpoints/step-000004\n');
    assert.ok(existsSync(join(dir, 'train-state.safetensors')), 'the old state is left alone');
  },
);

t('advfree train: a folder in use (exit 1), a folder holding a model (exit 2), nothing to resume (exit 2)', () => {
  const busy = fresh();
  const held = RunFolder.open(busy, 'new');
  const { started } = lockOf(busy);
  cliRefuses(
    ['train', '--out', busy],
    1,
    `${busy} is in use by another run (process ${process.pid} on ${hostname()}, started ${started}): wait for it to finish or stop it (kill ${process.pid})`,
  );
  held.release();
  const lone = fresh();
  writeFileSync(join(lone, 'model.safetensors'), 'my model');
  cliRefuses(
    ['train', '--out', lone],
    2,
    `advfree: ${lone} already holds model.safetensors; a new run would overwrite it (nothing was changed). There is no checkpoint to resume: move it away, or pick another --out`,
  );
  assert.is(readFileSync(join(lone, 'model.safetensors'), 'utf8'), 'my model');
  assert.equal(readdirSync(lone), ['model.safetensors']);
  const empty = fresh();
  cliRefuses(
    ['train', '--resume', empty],
    2,
    `advfree: --resume ${empty}: no checkpoint there (no latest pointer); start a new run with --out ${empty}`,
  );
  cliRefuses(
    ['train', '--optimizer', 'adam', '--momentum', '0.5', '--nesterov', '--out', empty],
    2,
    "advfree: --momentum and --nesterov are for --optimizer sgd; --optimizer adam uses torch.optim.Adam's betas (0.9, 0.999)",
  );
  writeFileSync(join(empty, 'metrics.jsonl'), '{}\n');
  cliRefuses(
    ['train', '--resume', empty],
    2,
    `advfree: --resume ${empty}: no checkpoint there (no latest pointer); the run stopped before its first checkpoint: move ${join(empty, 'metrics.jsonl')} away to start it again with --out ${empty}`,
  );
});

t(
  'advfree train: --out naming a file or nothing, --resume naming a file, nothing or no folder: usage errors naming the flag (exit 2)',
  () => {
    const dir = fresh();
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'mine');
    const out = "give the run's folder (it is created if missing), e.g. --out runs/NAME";
    const resume = 'give the folder of the run to continue (it holds latest and checkpoints/)';
    cliRefuses(['train', '--out', file], 2, `advfree: --out ${file} is a file, not a folder: ${out}`);
    cliRefuses(
      ['train', '--out', join(file, 'run')],
      2,
      `advfree: --out ${join(file, 'run')}: a folder above it is a file; ${out}`,
    );
    cliRefuses(['train', '--out', ''], 2, `advfree: --out is empty: ${out}`);
    cliRefuses(['train', '--resume', file], 2, `advfree: --resume ${file} is a file, not a folder: ${resume}`);
    writeFileSync(join(dir, 'model.safetensors'), 'a model');
    cliRefuses(
      ['train', '--resume', join(dir, 'model.safetensors')],
      2,
      `advfree: --resume ${join(dir, 'model.safetensors')} is a file, not a folder: ${resume}, e.g. --resume ${dir}`,
    );
    cliRefuses(['train', '--resume', ''], 2, `advfree: --resume is empty: ${resume}`);
    cliRefuses(
      ['train', '--resume', join(dir, 'nope')],
      2,
      `advfree: --resume ${join(dir, 'nope')}: no such folder; ${resume}`,
    );
    assert.not.ok(existsSync(join(dir, 'nope')), 'a resume creates no folder');
    assert.equal(readdirSync(dir).sort(), ['model.safetensors', 'notes.txt']);
    assert.is(readFileSync(file, 'utf8'), 'mine');
  },
);

t(
  'advfree train --batch too big for the adapter: refused before the run folder is created, with the largest batch that fits',
  () => {
    const limits = rt().device.limits;
    // The narrowest WRN-10 whose activations at batch 4096 exceed this adapter's limits (wrn-10-1 on lavapipe's 128 MiB).
    const width = [1, 2, 4, 8, 16, 32].find((w) =>
      batchOver(resolveModel(`wrn-10-${w}`, [3, 32, 32], 10), 4096, limits),
    );
    if (!width) {
      console.log(
        'run-folder: skipped the --batch 4096 CLI case: every WRN-10 up to width 32 fits this adapter at batch 4096',
      );
      return;
    }
    const model = `wrn-10-${width}`;
    const channels = 16 * width;
    const perImage = channels * 32 * 32 * 4;
    const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    const which =
      limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    const out = join(fresh(), 'run');
    cliRefuses(
      ['train', '--out', out, '--batch', '4096', '--model', model],
      2,
      `advfree: --batch 4096 does not fit this adapter: ${model}'s largest activation, F32 [4096,${channels},32,32], takes ` +
        `${fmtBytes(4096 * perImage)}, over its ${which} of ${fmtBytes(limit)}; the largest batch it can train ${model} with is ${Math.floor(limit / perImage)}. Nothing was created`,
    );
    assert.not.ok(existsSync(out), 'no run folder');
  },
);

t("batchOver: a model's largest activation times the batch, against the smaller of the two buffer limits", () => {
  const limits = { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 32 - 1 };
  const wrn = resolveModel('wrn-10-1', [3, 32, 32], 10);
  assert.equal(wrn.activation, [16, 32, 32], "the first group's output");
  assert.is(batchOver(wrn, 2048, limits), null, '2048 x 16 x 32 x 32 x 4 bytes = 2^27 exactly: fits');
  assert.equal(batchOver(wrn, 2049, limits), {
    shape: [2049, 16, 32, 32],
    bytes: 2049 * 65536,
    limit: 'maxStorageBufferBindingSize',
    maxBatch: 2048,
  });
  assert.equal(
    batchOver(resolveModel('wrn-28-10', [3, 32, 32], 10), 128, {
      maxStorageBufferBindingSize: 2 ** 31,
      maxBufferSize: 2 ** 26,
    }),
    { shape: [128, 160, 32, 32], bytes: 128 * 160 * 4096, limit: 'maxBufferSize', maxBatch: 102 },
  );
  // mnist-net: conv1's output [16, 14, 14] (3136 values) outgrows the input (784) and conv2's (1568); an MLP its widest layer.
  assert.equal(resolveModel('mnist-net', [1, 28, 28], 10).activation, [16, 14, 14]);
  assert.equal(resolveModel('mlp-256x2', [30], 2).activation, [256]);
  assert.equal(resolveModel('mlp-8x2', [30], 2).activation, [30]);
});

t(
  'advfree train --resume: flags that conflict with the saved configuration are refused, each named with its saved value',
  async () => {
    const dir = fresh();
    const tr = new Trainer(config(), DATA);
    await tr.run({ out: dir, maxSteps: 2, ...quiet });
    tr.dispose();
    const other = join(tmp, 'elsewhere');
    const allowed =
      'A resume may change only --epochs, --max-steps, --checkpoint-minutes, --log-every, --data-dir, --backend, --adapter';
    cliRefuses(
      [
        'train',
        '--resume',
        dir,
        '--lr',
        '0.5',
        '--model',
        'wrn-16-1',
        '--no-augment',
        '--seed',
        '3',
        '--method',
        'pgd',
        '--optimizer',
        'adam',
        '--out',
        other,
        '--epochs',
        '4',
      ],
      2,
      `advfree: --resume ${dir} continues the saved configuration; these flags conflict with it: --out ${other} (the run's folder is ${dir}), ` +
        `--model wrn-16-1 (saved: wrn-10-1), --lr 0.5 (saved: 0.05), --optimizer adam (saved: sgd), --no-augment (saved: off), --method pgd (saved: natural). ` +
        `Drop them, or start a new run with another --out. ${allowed}`,
    );
    cliRefuses(
      ['train', '--resume', dir, '--eps', '4/255'],
      2,
      `advfree: --resume ${dir} continues the saved configuration; this flag conflicts with it: --eps 4/255 (saved: 8/255). Drop it, or start a new run with another --out. ${allowed}`,
    );
    cliRefuses(
      ['train', '--resume', dir, '--max-steps', '1', '--epochs', '3'],
      2,
      `advfree: --max-steps 1 is below step 2, where the run in ${dir} already is; give --max-steps 2 or more`,
    );
    assert.not.ok(existsSync(other), '--out was not created');
    assert.not.ok(existsSync(join(dir, 'lock')), 'the lock is released');
    assert.match(
      helpText(train),
      '  --resume VALUE'.padEnd(30) +
        `continue the run in this folder with its saved configuration; only --epochs (to extend the run), --max-steps, --checkpoint-minutes, --log-every, --data-dir, --backend, --adapter may differ`,
    );
  },
);

t('method flags on resume: equal values pass, others are named with the saved value in the units people write', () => {
  // eps is the run's threat model's, saved beside the method.
  const saved = { name: 'free', replays: 4 };
  const threat = { norm: 'linf', eps: 8 / 255 } as const;
  const conflicts = (given: string[], ...argv: string[]) =>
    methodConflicts(parseCommand(train, argv) as FlagsOf<typeof train>, new Set(given), saved, threat);
  assert.equal(conflicts(['replays', 'eps'], '--method', 'natural', '--replays', '4', '--eps', '8/255'), []);
  assert.equal(conflicts(['method', 'replays', 'eps'], '--method', 'free', '--replays', '8', '--eps', '4/255'), [
    '--eps 4/255 (saved: 8/255)',
    '--replays 8 (saved: 4)',
  ]);
  assert.equal(conflicts(['method', 'steps'], '--method', 'pgd', '--steps', '7'), ['--method pgd (saved: free)']);
});

t.run();
