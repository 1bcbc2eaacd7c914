// A disk that fills, on a small tmpfs: a checkpoint that does not fit removes its partial pair (or its partial
// copy of the model) and says which folder is full, how much it needed and that the last complete checkpoint is
// intact; a dataset that does not fit leaves no staging folder and an unchanged cache. Mounting needs root (or
// CAP_SYS_ADMIN); where it is refused, each case says it was skipped and why.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer } from '../train/trainer.js';
import { ensureDataset, type CacheSpec } from '../data/index.js';
import { fmtBytes, freeBytes } from '../data/disk-space.js';
import { ready } from './helpers.js';
import { config, DATA } from './synthetic-run.js';

const t = suite('disk-full');
t.before(ready);

const tmp = mkdtempSync(join(tmpdir(), 'advfree-disk-full-'));
const mounts: string[] = [];
t.after(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  rmSync(tmp, { recursive: true, force: true });
});

/** A new tmpfs of `size` (mount's notation, e.g. 1m), or null (with the reason printed) where it cannot be mounted. */
function tmpfs(size: string, what: string): string | null {
  const dir = mkdtempSync(join(tmp, 'mount-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(
      `disk-full: skipped "${what}": cannot mount a ${size} tmpfs here (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}); a full disk is tested on a tmpfs, which takes mount(8) and root or CAP_SYS_ADMIN`,
    );
    return null;
  }
  mounts.push(dir);
  return dir;
}

const quiet = { progress: false, log: () => {} };

/**
 * The free bytes a message names ('81.9 KB (81920 bytes)'): what is free now, less the page of the lock (the
 * run's, the cache's) that was held when the message was made and is released since.
 */
function assertFreeNamed(named: string, folder: string): void {
  const now = freeBytes(folder)!;
  assert.ok([now, now - 4096].map(fmtBytes).includes(named), `${named} free, ${now} bytes now`);
}

/** Trains the synthetic run into `dir` up to step 4 (3 steps an epoch), which must fail; returns the message. */
async function fails(dir: string): Promise<string> {
  const tr = new Trainer(config(), DATA);
  try {
    await tr.run({ out: dir, maxSteps: 4, ...quiet });
  } catch (e) {
    return (e as Error).message;
  } finally {
    tr.dispose();
  }
  throw new Error('the run did not fail');
}

t(
  'a checkpoint that does not fit: the partial pair is removed, the folder, sizes and the intact last checkpoint are named',
  async () => {
    // Of a wrn-10-1 run, 1 MiB takes the pair of step 3 (about 630 KB) and its published model, not a second pair.
    const mount = tmpfs('1m', 'checkpoint');
    if (!mount) return;
    const run = join(mount, 'run');
    const message = await fails(run);
    const ckpts = join(run, 'checkpoints');
    const m = new RegExp(
      `^no space left on the device holding ${ckpts} \\(ENOSPC\\) while writing the checkpoint of step 4 \\(model and training state\\): ` +
        `that needs \\d+ KB \\((\\d+) bytes\\), and (.+) are free there\\. The partial pair was removed; the last complete checkpoint, ` +
        `${ckpts}/step-000003, is intact: free some space and continue with --resume ${run}$`,
    ).exec(message);
    assert.ok(m, message);
    const pair = ['model.safetensors', 'train-state.safetensors'].map(
      (f) => readFileSync(join(ckpts, 'step-000003', f)).length,
    );
    assert.ok(
      Math.abs(Number(m![1]) - (pair[0] + pair[1])) < 200,
      `needs ${m![1]}, about the ${pair} bytes of the pair before`,
    );
    assertFreeNamed(m![2], ckpts);
    assert.equal(readdirSync(ckpts), ['step-000003'], 'no partial pair left');
    assert.is(readFileSync(join(run, 'latest'), 'utf8'), 'checkpoints/step-000003\n');
    assert.ok(
      readFileSync(join(run, 'model.safetensors')).equals(
        readFileSync(join(ckpts, 'step-000003', 'model.safetensors')),
      ),
    );
    assert.not.ok(existsSync(join(run, 'lock')), 'the lock is released');
    const tr = await Trainer.resume(run, async () => DATA);
    assert.is(tr.stepsDone, 3, 'the last complete checkpoint resumes');
    tr.dispose();
  },
);

t('a published model that does not fit: the pair is complete and named, the partial copy is removed', async () => {
  // About 700 KB: the first pair fits, its copy as DIR/model.safetensors does not.
  const mount = tmpfs('700k', 'published model');
  if (!mount) return;
  const run = join(mount, 'run');
  const message = await fails(run);
  const pair = join(run, 'checkpoints', 'step-000003');
  const model = readFileSync(join(pair, 'model.safetensors')).length;
  const free = / and (.+) are free there\. /.exec(message)?.[1] ?? '';
  assert.is(
    message,
    `no space left on the device holding ${run} (ENOSPC) while copying the model of step 3 to ${join(run, 'model.safetensors')}: that needs ${fmtBytes(model)}, ` +
      `and ${free} are free there. The checkpoint of step 3 is complete in ${pair} (${join(run, 'latest')} names it); ` +
      `${join(run, 'model.safetensors')} is not written: free some space and continue with --resume ${run}`,
  );
  assertFreeNamed(free, run);
  assert.equal(readdirSync(run).sort(), ['checkpoints', 'latest', 'metrics.jsonl'], 'no partial copy');
  const tr = await Trainer.resume(run, async () => DATA);
  assert.is(tr.stepsDone, 3);
  tr.dispose();
});

t(
  'a dataset that does not fit: no staging folder is left, the cache is unchanged, and the sizes are named',
  async () => {
    const dataDir = tmpfs('1m', 'dataset staging');
    if (!dataDir) return;
    // Three files of 150 records (461 KB each): more than the 1 MiB the data folder has.
    const src = join(tmp, 'source');
    mkdirSync(src);
    const files = ['data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin'];
    const bytes = new Uint8Array(150 * 3073);
    for (const f of files) writeFileSync(join(src, f), bytes);
    const spec: CacheSpec = {
      name: 'tiny',
      folder: 'tiny-batches-bin',
      files: files.map((name) => ({ name })),
      remote: [],
      sourceHint: 'a folder holding the files',
    };
    await ensureDataset(spec, { dataDir, source: src, remote: false }).then(
      () => assert.unreachable('staged'),
      (e: Error) => {
        // The free space named is that while the cache's fetch lock (one page, released since) was held.
        const free = / and (.+) are free there\. /.exec(e.message)?.[1] ?? '';
        assertFreeNamed(free, dataDir);
        assert.is(
          e.message,
          `tiny: no space left on the device holding ${dataDir} (ENOSPC) while staging ${files.join(', ')} from ${src}: that needs at least ${fmtBytes(3 * bytes.length)}, ` +
            `and ${free} are free there. The partial staging folder was removed and nothing in the cache changed: ` +
            'free some space, or point --data-dir (or ADVFREE_DATA) at another folder',
        );
      },
    );
    assert.equal(readdirSync(dataDir), [], 'nothing left in the data folder');
  },
);

t.run();
