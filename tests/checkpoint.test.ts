import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor, type Tensor } from '../engine/index.js';
import { gitCommit, loadModel, readCheckpointMetadata, saveModel, type ModelMetadata } from '../nn/checkpoint.js';
import { Sgd } from '../nn/optim.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from '../nn/safetensors.js';
import { loadTrainState, restoreTensors, saveTrainState, type TrainState } from '../train/train-state.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { randn, ready } from './helpers.js';

type Layout = [name: string, dtype: 'F32' | 'I64', shape: number[]][];

/**
 * The reference PyTorch WideResNet's state_dict (RobustBench / TRADES), written from its definition rather than
 * from our model: conv1, three groups of pre-activation blocks (bn1, conv1, bn2, conv2, convShortcut where the
 * channel count changes), the final bn1, fc. BatchNorm contributes weight, bias, running stats and an int64 counter.
 */
function referenceLayout(depth: number, width: number, classes: number): Layout {
  const n = (depth - 4) / 6;
  const ch = [16, 16 * width, 32 * width, 64 * width];
  const out: Layout = [['conv1.weight', 'F32', [16, 3, 3, 3]]];
  const bn = (prefix: string, c: number) => {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) out.push([`${prefix}.${k}`, 'F32', [c]]);
    out.push([`${prefix}.num_batches_tracked`, 'I64', []]);
  };
  for (let g = 1; g <= 3; g++) {
    for (let i = 0; i < n; i++) {
      const [cin, cout, p] = [i === 0 ? ch[g - 1] : ch[g], ch[g], `block${g}.layer.${i}`];
      bn(`${p}.bn1`, cin);
      out.push([`${p}.conv1.weight`, 'F32', [cout, cin, 3, 3]]);
      bn(`${p}.bn2`, cout);
      out.push([`${p}.conv2.weight`, 'F32', [cout, cout, 3, 3]]);
      if (cin !== cout) out.push([`${p}.convShortcut.weight`, 'F32', [cout, cin, 1, 1]]);
    }
  }
  bn('bn1', ch[3]);
  out.push(['fc.weight', 'F32', [classes, ch[3]]], ['fc.bias', 'F32', [classes]]);
  return out;
}

const bnNames = (p: string) =>
  ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((k) => `${p}.${k}`);
/** WRN-10-1 by hand: one block a group; block1 keeps 16 channels (no shortcut), blocks 2 and 3 widen (shortcut). */
const WRN_10_1 = [
  'conv1.weight',
  ...bnNames('block1.layer.0.bn1'),
  'block1.layer.0.conv1.weight',
  ...bnNames('block1.layer.0.bn2'),
  'block1.layer.0.conv2.weight',
  ...bnNames('block2.layer.0.bn1'),
  'block2.layer.0.conv1.weight',
  ...bnNames('block2.layer.0.bn2'),
  'block2.layer.0.conv2.weight',
  'block2.layer.0.convShortcut.weight',
  ...bnNames('block3.layer.0.bn1'),
  'block3.layer.0.conv1.weight',
  ...bnNames('block3.layer.0.bn2'),
  'block3.layer.0.conv2.weight',
  'block3.layer.0.convShortcut.weight',
  ...bnNames('bn1'),
  'fc.weight',
  'fc.bias',
];

const META: ModelMetadata = {
  architecture: 'wrn-10-1',
  dataset: 'cifar10',
  normalization: 'none: inputs in [0,1]',
  method: 'free-8',
  epoch: '3',
  commit: 'abc1234',
};

const build = (arch: string, seed: number) => new WideResNet(parseArch(arch, 10), seed);

/** Every f32 tensor and int64 counter of a model's state, by name. */
async function snapshot(model: WideResNet): Promise<Map<string, Uint8Array | bigint>> {
  const out = new Map<string, Uint8Array | bigint>();
  for (const [name, p] of model.namedParameters()) out.set(name, new Uint8Array((await p.tensor.data()).buffer));
  for (const [name, b] of model.namedBuffers())
    out.set(name, 'tensor' in b ? new Uint8Array((await b.tensor.data()).buffer) : b.int64());
  return out;
}

function assertSameState(a: Map<string, Uint8Array | bigint>, b: Map<string, Uint8Array | bigint>): void {
  assert.equal([...a.keys()], [...b.keys()]);
  for (const [name, x] of a) {
    const y = b.get(name)!;
    if (typeof x === 'bigint') {
      assert.is(y, x, name);
      continue;
    }
    const bytes = y as Uint8Array;
    assert.is(bytes.length, x.length, `${name}: byte length`);
    const i = x.findIndex((v, k) => v !== bytes[k]);
    if (i >= 0) assert.unreachable(`${name}: byte ${i} differs (${bytes[i]} vs ${x[i]})`);
  }
}

/**
 * Values a fresh model never holds: random weights and running stats with -0 and a subnormal, big counters
 * (running variances non-negative, as loading refuses a negative one).
 */
function scramble(model: WideResNet, seed: number): void {
  let k = seed;
  const fillRandom = (t: Tensor, variance = false) => {
    const v = Float32Array.from(randn(t.size, k++), (x) => (variance ? Math.abs(x) : x));
    v[0] = -0;
    if (v.length > 1) v[1] = 1e-41;
    t.write(v);
  };
  for (const [, p] of model.namedParameters()) fillRandom(p.tensor);
  for (const [name, b] of model.namedBuffers()) {
    if ('tensor' in b) fillRandom(b.tensor, name.endsWith('running_var'));
    else b.setInt64(2n ** 40n + BigInt(k++));
  }
}

/** The header of a safetensors file, parsed by hand. */
function rawHeader(bytes: Uint8Array): Record<string, { dtype: string; shape: number[] } | Record<string, string>> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}

// The tests after the round trips reuse the files those wrote (wrn-10-1.safetensors, wrn-16-1.safetensors).
let dir = '';
const cp = suite('checkpoint');
cp.before(async () => {
  await ready();
  dir = await mkdtemp(join(tmpdir(), 'advfree-checkpoint-'));
});
cp.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

cp('the reference layout, written independently, matches the hand-written WRN-10-1 list', () => {
  assert.equal(
    referenceLayout(10, 1, 10).map(([name]) => name),
    WRN_10_1,
  );
});

for (const arch of ['wrn-10-1', 'wrn-16-1']) {
  cp(
    `${arch}: the file holds exactly the reference state_dict; a model of another seed loads it bit for bit`,
    async () => {
      const [depth, width] = arch.split('-').slice(1).map(Number);
      const path = join(dir, `${arch}.safetensors`);
      const a = build(arch, 1);
      scramble(a, 100);
      a.eval(); // the mode is not state: b stays in training mode
      await saveModel(a, path, { ...META, architecture: arch });

      const bytes = new Uint8Array(await readFile(path));
      const header = rawHeader(bytes);
      const { __metadata__: meta, ...tensors } = header;
      assert.equal(meta, { ...META, architecture: arch, format: 'pt' });
      const expected = referenceLayout(depth, width, 10);
      assert.equal(Object.keys(tensors).sort(), expected.map(([name]) => name).sort());
      for (const [name, dtype, shape] of expected) {
        const t = tensors[name] as { dtype: string; shape: number[] };
        assert.is(t.dtype, dtype, name);
        assert.equal(t.shape, shape, name);
      }

      const b = build(arch, 2);
      const before = await snapshot(b);
      assert.not.equal(before.get('conv1.weight'), (await snapshot(a)).get('conv1.weight'), 'the seeds differ');
      assert.equal(await loadModel(b, path), { ...META, architecture: arch, format: 'pt' });
      assertSameState(await snapshot(b), await snapshot(a));
      assert.ok(b.training, 'loading leaves the mode alone');

      // Saving what was loaded reproduces the file byte for byte.
      const again = join(dir, `${arch}-again.safetensors`);
      await saveModel(b, again, { ...META, architecture: arch });
      assert.ok(Buffer.compare(await readFile(again), Buffer.from(bytes)) === 0, 'same bytes');
      a.dispose();
      b.dispose();
    },
  );
}

/** Runs `fn`, which must reject with a message matching every pattern. */
async function rejects(fn: () => Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  let msg: string | null = null;
  await fn().catch((e: Error) => (msg = e.message));
  if (msg === null) assert.unreachable(`expected an error matching ${patterns.join(', ')}`);
  for (const p of patterns) assert.match(msg!, p);
  return msg!;
}

/** Rewrites a saved checkpoint's tensors with `edit`, as another writer might have. */
async function edited(src: string, name: string, edit: (t: Record<string, SafetensorsEntry>) => void): Promise<string> {
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(await readFile(src)));
  edit(tensors);
  const path = join(dir, name);
  await writeFile(path, encodeSafetensors(tensors, metadata));
  return path;
}

cp('refuses a checkpoint of another architecture, naming the first differing tensor and both shapes', async () => {
  const wide = build('wrn-10-2', 3);
  const path = join(dir, 'wrn-10-2.safetensors');
  await saveModel(wide, path, { ...META, architecture: 'wrn-10-2' });
  wide.dispose();
  const model = build('wrn-10-1', 4);
  const before = await snapshot(model);
  await rejects(
    () => loadModel(model, path),
    /wrn-10-2\.safetensors/,
    /architecture 'wrn-10-2'/,
    // conv1 and block1.layer.0.bn1 (16 channels) agree; the first block's conv1 is the first to differ.
    /tensor 'block1\.layer\.0\.conv1\.weight' is F32 \[32,16,3,3\] in the file, the model expects F32 \[16,16,3,3\]/,
  );
  assertSameState(await snapshot(model), before);

  // Depth: WRN-16-1 holds blocks the WRN-10-1 lacks.
  const deep = join(dir, 'wrn-16-1.safetensors');
  await rejects(
    () => loadModel(model, deep),
    /tensor 'block1\.layer\.1\.bn1\.bias' \(F32 \[16\]\) in the file is not in the model/,
    new RegExp(`0 missing, ${referenceLayout(16, 1, 10).length - WRN_10_1.length} unexpected`),
  );
  model.dispose();
});

cp('refuses missing, unexpected and retyped tensors, leaving the model untouched', async () => {
  const src = join(dir, 'wrn-10-1.safetensors');
  const model = build('wrn-10-1', 5);
  const before = await snapshot(model);

  const missing = await edited(src, 'missing.safetensors', (t) => delete t['fc.bias']);
  await rejects(
    () => loadModel(model, missing),
    /missing\.safetensors/,
    /tensor 'fc\.bias' \(F32 \[10\]\) is missing from the file/,
    /1 missing, 0 unexpected/,
  );

  const extra = await edited(
    src,
    'extra.safetensors',
    (t) => (t['fc.extra'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) }),
  );
  await rejects(
    () => loadModel(model, extra),
    /extra\.safetensors/,
    /tensor 'fc\.extra' \(F32 \[2\]\) in the file is not in the model/,
    /0 missing, 1 unexpected/,
  );

  const counter = 'block2.layer.0.bn2.num_batches_tracked';
  const retyped = await edited(
    src,
    'retyped.safetensors',
    (t) => (t[counter] = { dtype: 'F32', shape: [], data: new Float32Array(1) }),
  );
  await rejects(
    () => loadModel(model, retyped),
    new RegExp(`tensor '${counter}' is F32 \\[\\] in the file, the model expects I64 \\[\\]`),
  );

  const reshaped = await edited(src, 'reshaped.safetensors', (t) => (t['fc.weight'].shape = [64, 10]));
  await rejects(
    () => loadModel(model, reshaped),
    /tensor 'fc\.weight' is F32 \[64,10\] in the file, the model expects F32 \[10,64\]/,
  );

  assertSameState(await snapshot(model), before);
  model.dispose();
});

cp('a truncated file is an error naming the file', async () => {
  const bytes = await readFile(join(dir, 'wrn-10-1.safetensors'));
  const cut = join(dir, 'cut.safetensors');
  await writeFile(cut, bytes.subarray(0, bytes.length - 100));
  const model = build('wrn-10-1', 6);
  await rejects(() => loadModel(model, cut), /cut\.safetensors: safetensors: /, /beyond the data section|cover/);
  await writeFile(cut, bytes.subarray(0, 100));
  await rejects(
    () => loadModel(model, cut),
    /cut\.safetensors: safetensors: header length \d+ goes beyond the file of 100 bytes/,
  );
  await rejects(() => readCheckpointMetadata(cut), /cut\.safetensors/);
  await rejects(() => loadModel(model, join(dir, 'absent.safetensors')), /absent\.safetensors: no such file$/);
  await rejects(() => loadModel(model, dir), new RegExp(`${dir}: is a folder, not a \\.safetensors file`));
  model.dispose();
});

cp('readCheckpointMetadata and gitCommit', async () => {
  assert.equal(await readCheckpointMetadata(join(dir, 'wrn-10-1.safetensors')), { ...META, format: 'pt' });
  assert.match(gitCommit(), /^([0-9a-f]{4,40}(-dirty)?|unknown)$/);
  assert.is(gitCommit(dir), 'unknown', 'outside a checkout');
  assert.is(gitCommit(join(dir, 'no-such-dir')), 'unknown');
});

const ts = suite('train-state');
let tdir = '';
ts.before(async () => {
  await ready();
  tdir = await mkdtemp(join(tmpdir(), 'advfree-train-state-'));
});
ts.after(async () => {
  await rm(tdir, { recursive: true, force: true });
});

const STATE: TrainState = {
  step: 12345,
  epoch: 7,
  position: { epoch: 8, batch: 41 },
  rng: { loader: 0, attack: 17, attackStream: 98765 },
  config: {
    architecture: 'wrn-10-1',
    method: 'free',
    replays: 8,
    eps: 8 / 255,
    lr: [0.1, 0.01, 0.001],
    nesterov: false,
    out: null,
    data: { dir: '/d', name: 'ünï' },
  },
  counters: { passes: 12345, images: 1580160, seconds: 3.25 },
};

const randomF32 = (n: number, seed: number) => {
  const v = Float32Array.from(randn(n, seed));
  v[0] = -0;
  return v;
};

ts('momenta, delta and the state round-trip exactly and restore into a fresh run', async () => {
  const model = build('wrn-10-1', 1);
  const opts = { momentum: 0.9, nesterov: false, weightDecay: 2e-4, decay: 'all' as const };
  const opt = new Sgd(model.namedParameters(), opts);
  opt.momenta.forEach((m, i) => m.write(randomF32(m.size, 200 + i)));
  const delta = tensor(randomF32(4 * 3 * 8 * 8, 7), [4, 3, 8, 8], { name: 'delta' });
  const path = join(tdir, 'train-state.safetensors');
  await saveTrainState(path, { tensors: { ...opt.state, delta }, state: STATE });

  const loaded = await loadTrainState(path);
  assert.equal(loaded.state, STATE);
  assert.is(Object.keys(loaded.tensors).length, model.namedParameters().length + 1);
  assert.equal(loaded.shapes['momentum.block2.layer.0.convShortcut.weight'], [32, 16, 1, 1]);
  assert.equal(loaded.shapes.delta, [4, 3, 8, 8]);
  assert.equal([...new Uint32Array(loaded.tensors.delta.buffer)], [...new Uint32Array((await delta.data()).buffer)]);

  const opt2 = new Sgd(model.namedParameters(), opts);
  const delta2 = tensor(new Float32Array(delta.size), delta.shape, { name: 'delta' });
  restoreTensors(loaded, { ...opt2.state, delta: delta2 });
  const bits = async (t: Tensor) => [...new Uint32Array((await t.data()).buffer)];
  for (const [i, m] of opt.momenta.entries()) assert.equal(await bits(opt2.momenta[i]), await bits(m), m.name);
  assert.equal(await bits(delta2), await bits(delta));

  // A run whose batch size differs cannot take this delta; one without delta does not know it.
  const small = tensor(new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8], { name: 'delta' });
  await rejects(
    async () => restoreTensors(loaded, { ...opt2.state, delta: small }),
    /train-state\.safetensors/,
    /tensor 'delta' is F32 \[4,3,8,8\] in the file, this run expects F32 \[2,3,8,8\]/,
  );
  await rejects(
    async () => restoreTensors(loaded, opt2.state),
    /tensor 'delta' \(F32 \[4,3,8,8\]\) in the file is not in this run/,
  );
  for (const t of [delta, delta2, small]) t.dispose();
  opt.dispose();
  opt2.dispose();
  model.dispose();
});

ts('refuses what would not resume exactly', async () => {
  const path = join(tdir, 'bad.safetensors');
  const nan = { ...STATE, counters: { ...STATE.counters, loss: NaN } };
  await rejects(
    () => saveTrainState(path, { tensors: {}, state: nan }),
    /bad\.safetensors/,
    /field 'state\.counters\.loss' is NaN/,
  );
  const undef = { ...STATE, config: { ...STATE.config, seed: undefined } } as unknown as TrainState;
  await rejects(() => saveTrainState(path, { tensors: {}, state: undef }), /field 'state\.config\.seed' is undefined/);
  const labels = tensor(Int32Array.of(1, 2), [2], { name: 'labels' });
  await rejects(() => saveTrainState(path, { tensors: { labels }, state: STATE }), /tensor 'labels'/, /i32/);
  labels.dispose();

  const forged = (state: string, format = 'advfree-train-state-1') =>
    writeFile(path, encodeSafetensors({}, { format, state }));
  await forged('{}', 'pt');
  await rejects(() => loadTrainState(path), /bad\.safetensors: not a training state/, /"pt"/);
  const dated = { ...STATE, rng: { when: new Date(0) } } as unknown as TrainState;
  await rejects(
    () => saveTrainState(path, { tensors: {}, state: dated }),
    /field 'state\.rng\.when' is a Date, not JSON/,
  );
  await forged('[1]');
  await rejects(() => loadTrainState(path), /bad\.safetensors: the training state must be a JSON object, got \[1\]/);
  await forged(JSON.stringify({ ...STATE, position: { epoch: 1 } }));
  await rejects(
    () => loadTrainState(path),
    /bad\.safetensors: training state field 'position\.batch' must be a non-negative integer, got undefined/,
  );
  await forged('{"step": 1');
  await rejects(() => loadTrainState(path), /bad\.safetensors/, /not valid JSON/);
});

cp.run();
ts.run();
