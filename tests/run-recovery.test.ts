// A run folder after hands and accidents: DIR/model.safetensors is a copy that may be written over without
// touching a checkpoint; `latest` naming a missing or damaged pair resumes from the newest complete one (the
// damaged one kept aside, never deleted); a metrics file whose last line was cut gets its torn bytes kept in
// metrics.jsonl.torn-<time> and new lines on a line of their own; a resume that changes --epochs says how it
// stretches the learning-rate schedule.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Trainer } from '../train/trainer.js';
import { RunFolder } from '../train/run-folder.js';
import { ready, scratch } from './helpers.js';
import { config, DATA, lines, weights } from './synthetic-run.js';

const t = suite('run-recovery');
t.before(ready);

const { fresh } = scratch(t, 'run-recovery');
const quiet = { progress: false, log: () => {} };

/** A synthetic run trained into a new folder up to `maxSteps` (3 steps an epoch). */
async function trained(maxSteps: number, over: Parameters<typeof config>[0] = {}): Promise<string> {
  const dir = fresh();
  const tr = new Trainer(config(over), DATA);
  await tr.run({ out: dir, maxSteps, ...quiet });
  tr.dispose();
  return dir;
}

t('DIR/model.safetensors is a copy: writing into it changes no checkpoint, and the run resumes', async () => {
  const dir = await trained(2);
  const published = join(dir, 'model.safetensors');
  const pair = join(dir, 'checkpoints', 'step-000002', 'model.safetensors');
  assert.ok(readFileSync(published).equals(readFileSync(pair)), 'the same bytes');
  assert.equal([statSync(published).nlink, statSync(pair).nlink], [1, 1], 'no hard link');
  assert.is.not(statSync(published).ino, statSync(pair).ino);
  const before = readFileSync(pair);
  // As `cp other.safetensors DIR/model.safetensors` does: the same inode, written in place.
  writeFileSync(published, 'another model');
  assert.ok(readFileSync(pair).equals(before), 'the checkpoint is unchanged');
  const tr = await Trainer.resume(dir, async () => DATA);
  assert.is(tr.stepsDone, 2);
  await tr.run({ out: dir, maxSteps: 4, ...quiet });
  tr.dispose();
  assert.ok(
    readFileSync(published).equals(readFileSync(join(dir, 'checkpoints', 'step-000004', 'model.safetensors'))),
    'published again at step 4',
  );
});

t(
  'latest naming a damaged or missing pair: the run resumes from the newest complete one, with a note; the damaged one is kept aside',
  async () => {
    const want = await (async () => {
      const ref = new Trainer(config(), DATA);
      await ref.run({ out: fresh(), ...quiet });
      const w = await weights(ref);
      ref.dispose();
      return w;
    })();
    const dir = await trained(4);
    assert.equal(readdirSync(join(dir, 'checkpoints')).sort(), ['step-000003', 'step-000004']);
    const state = join(dir, 'checkpoints', 'step-000004', 'train-state.safetensors');
    const size = statSync(state).size;
    const cut = size - 1000;
    truncateSync(state, cut);
    const tr = await Trainer.resume(dir, async () => DATA);
    assert.is(tr.stepsDone, 3, 'from the complete pair');
    const notes: string[] = [];
    await tr.run({ out: dir, progress: false, log: (l) => notes.push(l) });
    const got = await weights(tr);
    tr.dispose();
    want.forEach((w, k) =>
      assert.equal(Array.from(got[k]), Array.from(w), `parameter ${k} as in the uninterrupted run`),
    );
    const aside = readdirSync(join(dir, 'checkpoints')).find((n) => n.startsWith('step-000004.damaged-'));
    assert.ok(aside, `kept aside: ${readdirSync(join(dir, 'checkpoints'))}`);
    assert.match(aside!, /^step-000004\.damaged-\d{8}T\d{6}Z$/);
    assert.equal(
      notes.filter((l) => l.startsWith('advfree:')),
      [
        `advfree: ${join(dir, 'latest')}: skipped checkpoints/step-000004 (its train-state.safetensors is cut short (${cut} bytes; its header declares ${size}); ` +
          `moved aside to checkpoints/${aside}); resuming from checkpoints/step-000003, the newest complete pair`,
      ],
    );
    assert.is(
      statSync(join(dir, 'checkpoints', aside!, 'train-state.safetensors')).size,
      cut,
      'its bytes as they were',
    );
    assert.ok(existsSync(join(dir, 'checkpoints', aside!, 'model.safetensors')));
    assert.equal(
      readdirSync(join(dir, 'checkpoints')).sort(),
      ['step-000003', aside!, 'step-000006'],
      'the aside folder is never pruned',
    );
    // The pair `latest` names is gone altogether.
    rmSync(join(dir, 'checkpoints', 'step-000006'), { recursive: true });
    const missing: string[] = [];
    RunFolder.open(dir, 'resume', (l) => missing.push(l)).release();
    assert.equal(missing, [
      `advfree: ${join(dir, 'latest')}: skipped checkpoints/step-000006 (missing); resuming from checkpoints/step-000003, the newest complete pair`,
    ]);
    assert.is((await Trainer.resume(dir, async () => DATA)).stepsDone, 3);
    // No complete pair at all: nothing to resume, said with what was passed over.
    rmSync(join(dir, 'checkpoints', 'step-000003'), { recursive: true });
    assert.throws(
      () => RunFolder.open(dir, 'resume'),
      (e: Error) =>
        e.message ===
        `--resume ${dir}: no complete checkpoint there: ${join(dir, 'latest')} names checkpoints/step-000006; passed over checkpoints/step-000006 (missing); start a new run with another --out`,
    );
  },
);

t(
  'a metrics file whose last line was cut: the torn bytes are kept in metrics.jsonl.torn-<time>, new lines start on their own line',
  async () => {
    const dir = await trained(2);
    const file = join(dir, 'metrics.jsonl');
    const whole = readFileSync(file, 'utf8');
    const torn = '{"run":"x","type":"step","step":3,"tra';
    appendFileSync(file, torn);
    const tr = await Trainer.resume(dir, async () => DATA);
    const notes: string[] = [];
    await tr.run({ out: dir, maxSteps: 4, progress: false, log: (l) => notes.push(l) });
    tr.dispose();
    const aside = readdirSync(dir).filter((n) => n.startsWith('metrics.jsonl.torn-'));
    assert.is(aside.length, 1, `${readdirSync(dir)}`);
    assert.is(readFileSync(join(dir, aside[0]), 'utf8'), torn, 'the torn bytes, kept');
    const n = whole.split('\n').length;
    assert.ok(
      notes.includes(
        `advfree: ${file} line ${n} was cut short (${torn.length} bytes without a newline: a write interrupted by a kill or a full disk); moved those bytes to ${join(dir, aside[0])}, new lines start after line ${n - 1}`,
      ),
      notes.join('\n'),
    );
    const all = readFileSync(file, 'utf8');
    assert.ok(all.startsWith(whole), 'the whole lines before it are unchanged');
    const after = lines(file).slice(n - 1);
    assert.equal(
      after.map((l) => l.type),
      ['resume', 'epoch', 'step'],
      'every line parses',
    );
  },
);

t(
  'a resume that changes --epochs says how the learning-rate schedule stretches: old and new length, the rate before and after',
  async () => {
    const dir = await trained(4, { schedule: 'cosine' });
    const notes: string[] = [];
    const tr = await Trainer.resume(dir, async () => DATA, { epochs: 4 });
    await tr.run({ out: dir, maxSteps: 6, progress: false, log: (l) => notes.push(l) });
    tr.dispose();
    // Cosine over 6 iterations at iteration 4: 0.05 (1 + cos(4π/6)) / 2 = 0.0125; over 12: 0.05 (1 + cos(4π/12)) / 2 = 0.0375.
    assert.equal(
      notes.filter((l) => l.includes('--epochs')),
      [
        'advfree: --epochs 4 (saved: 2) stretches the cosine learning-rate schedule from 6 to 12 SGD iterations, at iteration 4 the rate is 0.0375 instead of 0.0125',
      ],
    );
    // And the rate trained with: iteration 5 (step 6) of 12.
    const lr = lines(join(dir, 'metrics.jsonl')).find((l) => l.type === 'step' && l.step === 6)?.lr as number;
    assert.ok(Math.abs(lr - (0.05 * (1 + Math.cos((5 * Math.PI) / 12))) / 2) < 1e-15, `lr ${lr}`);
    // A constant schedule does not change, and an unchanged --epochs says nothing.
    for (const [over, epochs] of [
      [{ schedule: 'constant' }, 4],
      [{ schedule: 'cosine' }, 2],
    ] as const) {
      const d = await trained(2, over);
      const quietNotes: string[] = [];
      const r = await Trainer.resume(d, async () => DATA, { epochs });
      await r.run({ out: d, maxSteps: 3, progress: false, log: (l) => quietNotes.push(l) });
      r.dispose();
      assert.equal(
        quietNotes.filter((l) => l.includes('--epochs')),
        [],
        `${over.schedule}, --epochs ${epochs}`,
      );
    }
  },
);

t.run();
