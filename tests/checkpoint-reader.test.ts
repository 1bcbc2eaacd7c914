// The checkpoint reader and model construction on hostile or foreign input: headers checked against the
// architecture before anything is allocated, size bounds from the adapter's limits, metadata-less PyTorch
// state_dicts evaluated like advfree's own files, bad metadata, unreadable paths, outputs that would overwrite
// an input, --offset and --normalize.
import { resolveAttack } from '../adversarial/attack-registry.js';
import { IMAGE_THREAT } from '../adversarial/threat.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memory, rt, tidy, tensor } from '../engine/index.js';
import { parseCommand } from '../bin/args.js';
import { evaluate, evaluateCheckpoint, formatReport, testExamples, type EvalOptions } from '../bin/eval.js';
import { show } from '../bin/show.js';
import { saveModel } from '../nn/checkpoint.js';
import { openCheckpoint } from '../nn/checkpoint-reader.js';
import type { SplitData } from '../data/dataset.js';
import { encodeSafetensors, decodeSafetensors, type SafetensorsEntry } from '../nn/safetensors.js';
import { InputNormalization } from '../nn/normalize.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { checkWrnFits, inferWrnConfig, wrnTensorSpecs } from '../nn/models/wrn-layout.js';
import { MAX_MODEL_BYTES } from '../nn/model-size.js';
import { assertClose, assertThrows, randn, randu, ready, rng } from './helpers.js';
import { usageError } from './cli-run.js';

const t = suite('checkpoint-reader');
let dir = '';
t.before(async () => {
  await ready();
  dir = mkdtempSync(join(tmpdir(), 'advfree-reader-'));
});
t.after(() => rmSync(dir, { recursive: true, force: true }));

async function rejects(p: Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  let msg: string | null = null;
  await p.catch((e: Error) => (msg = e.message));
  if (msg === null) assert.unreachable(`expected an error matching ${patterns.join(', ')}`);
  for (const re of patterns) assert.match(msg!, re);
  return msg!;
}

/** A WRN-10-1 with its seeded init, random BN statistics and classifier, so that its predictions differ between images. */
function randomModel(seed: number): WideResNet {
  const m = new WideResNet(parseArch('wrn-10-1'), seed);
  let k = seed * 100;
  for (const [name, p] of m.namedParameters())
    if (name === 'fc.weight') p.tensor.write(Float32Array.from(randn(p.tensor.size, k++, 10)));
  for (const [name, b] of m.namedBuffers()) {
    if (!('tensor' in b)) continue;
    const v = name.endsWith('running_var') ? randu(b.tensor.size, k++, 0.5, 1.5) : randn(b.tensor.size, k++, 0.1);
    b.tensor.write(Float32Array.from(v));
  }
  return m;
}

/** Images whose channels have different brightness from image to image, so that a random model tells them apart. */
function synthetic(count: number, seed: number): SplitData {
  const r = rng(seed);
  const base = Array.from({ length: count * 3 }, () => r() * 200);
  return {
    x: Uint8Array.from({ length: count * 3072 }, (_, k) => Math.floor(base[Math.floor(k / 1024)] + r() * 56)),
    y: Int32Array.from({ length: count }, () => Math.floor(r() * 10)),
    count,
    classes: 10,
    shape: [3, 32, 32],
  };
}

const META = {
  architecture: 'wrn-10-1',
  dataset: 'cifar10',
  normalization: 'none: inputs in [0,1]',
  method: '{"name":"natural"}',
  epoch: '1',
  commit: 'abc',
};

/** The tensors of a saved advfree checkpoint, for rewriting with other metadata or names. */
const tensorsOf = (path: string): Record<string, SafetensorsEntry> => decodeSafetensors(readFileSync(path)).tensors;

const options = (o: Partial<EvalOptions> = {}): EvalOptions => ({
  attacks: [],
  threat: IMAGE_THREAT,
  advPredictions: true,
  batch: 16,
  seed: 0,
  dataset: 'cifar10',
  offset: 0,
  testSize: 10_000,
  normalization: null,
  ...o,
});

let saved = '';
t("the layout computed from the config is the model's state_dict: names, dtypes and shapes", async () => {
  for (const [arch, classes] of [
    ['wrn-10-1', 10],
    ['wrn-10-2', 10],
    ['wrn-16-1', 100],
    ['wrn-22-3', 10],
  ] as const) {
    const m = new WideResNet(parseArch(arch, classes));
    const fromModel = [
      ...m.namedParameters().map(([n, p]) => [n, 'F32', p.tensor.shape.join(',')]),
      ...m
        .namedBuffers()
        .map(([n, b]) => [n, 'tensor' in b ? 'F32' : 'I64', 'tensor' in b ? b.tensor.shape.join(',') : '']),
    ];
    const specs = wrnTensorSpecs(parseArch(arch, classes)).map(([n, s]) => [n, s.dtype, s.shape.join(',')]);
    assert.equal([...specs].sort(), [...fromModel].sort(), arch);
    const spec = Object.fromEntries(wrnTensorSpecs(parseArch(arch, classes)));
    assert.equal(inferWrnConfig(spec), parseArch(arch, classes), `${arch}: inferred back from the shapes`);
    m.dispose();
  }
  saved = join(dir, 'model.safetensors');
  const m = randomModel(1);
  await saveModel(m, saved, META);
  m.dispose();
});

t('crafted headers (huge depth, width, inferred depth) are refused before anything is allocated', async () => {
  const tensors = tensorsOf(saved);
  const before = memory();
  const craft = (name: string, meta?: Record<string, string>, extra: Record<string, SafetensorsEntry> = {}) => {
    const path = join(dir, name);
    writeFileSync(path, encodeSafetensors({ ...tensors, ...extra }, meta));
    return path;
  };
  await rejects(
    openCheckpoint(craft('deep.safetensors', { ...META, architecture: 'wrn-100000006-1' })),
    /deep\.safetensors: the architecture in its metadata: model 'wrn-100000006-1': depth 100000006 is over the limit of 1000/,
    /--model/,
  );
  await rejects(
    openCheckpoint(craft('wide.safetensors', { ...META, architecture: 'wrn-16-100000' })),
    /wide\.safetensors/,
    /model 'wrn-16-100000': its tensors take 6\.83 PB \(6830081996802128 bytes\), over the 2\.15 GB \(2147483647 bytes\) a checkpoint can hold/,
  );
  // No metadata: 170 tiny blocks in block1 make an inferred WRN-1024-1.
  const blocks = Object.fromEntries(
    Array.from({ length: 170 }, (_, i): [string, SafetensorsEntry] => [
      `block1.layer.${i}.conv1.weight`,
      { dtype: 'F32', shape: [16, 16, 3, 3], data: new Float32Array(16 * 16 * 9) },
    ]),
  );
  await rejects(
    openCheckpoint(craft('inferred.safetensors', undefined, blocks)),
    /the architecture of its tensor shapes: model 'wrn-1024-1': depth 1024 is over the limit of 1000/,
  );
  // A plausible architecture that the tensors do not match: named, with the first difference.
  await rejects(
    openCheckpoint(craft('liar.safetensors', { ...META, architecture: 'wrn-16-2' })),
    /liar\.safetensors: does not match wrn-16-2 with 10 classes \(the architecture its metadata records\): tensor 'block1\.layer\.0\.conv1\.weight' is F32 \[16,16,3,3\] in the file, wrn-16-2 with 10 classes expects F32 \[32,16,3,3\]/,
  );
  const after = memory();
  assert.is(after.buffersCreated, before.buffersCreated, 'no GPU buffer was created');
  assert.is(after.liveTensors, before.liveTensors);
});

t(
  "tensors over the adapter's buffer limits are refused with the limit, the sizes and the widest model that fits",
  () => {
    const limits = { maxStorageBufferBindingSize: 134_217_728, maxBufferSize: 2 ** 32 };
    // block3's second conv [64w, 64w, 3, 3] is the largest: 36·4096·w² bytes; w = 30 fits 128 MiB, w = 31 does not.
    assert.ok(
      36 * 4096 * 30 ** 2 <= limits.maxStorageBufferBindingSize &&
        36 * 4096 * 31 ** 2 > limits.maxStorageBufferBindingSize,
    );
    checkWrnFits(parseArch('wrn-16-30'), limits);
    assertThrows(
      () => checkWrnFits(parseArch('wrn-16-31'), limits),
      /model 'wrn-16-31': tensor 'block3\.layer\.0\.conv2\.weight' F32 \[1984,1984,3,3\] takes 142 MB \(141705216 bytes\), over the adapter's maxStorageBufferBindingSize of 134 MB \(134217728 bytes\); the widest WRN-16 this adapter can hold is wrn-16-30/,
    );
    assertThrows(
      () => checkWrnFits(parseArch('wrn-10-4'), { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 1_000_000 }),
      /over the adapter's maxBufferSize of 1\.00 MB/,
    );

    // On this adapter: the narrowest width over its limit is refused by the constructor before any allocation.
    const lim = rt().device.limits;
    const max = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    const width = Math.floor(Math.sqrt(max / (36 * 4096))) + 1;
    const before = memory();
    assertThrows(
      () => new WideResNet({ depth: 10, width, classes: 10, inChannels: 3 }),
      new RegExp(`model 'wrn-10-${width}': tensor 'block3\\.layer\\.0\\.conv2\\.weight'`),
      new RegExp(`wrn-10-${width - 1}`),
    );
    assert.is(memory().buffersCreated, before.buffersCreated);
    assert.is(memory().liveTensors, before.liveTensors);
    // The same bound for train --model, without a GPU: the total size.
    assertThrows(() => parseArch('wrn-16-1000000'), /over the 2\.15 GB/);
    assert.ok(MAX_MODEL_BYTES === 2 ** 31 - 1);
  },
);

t('a tensor over the buffer limit fails in the engine with the sizes and limits, not inside Dawn', () => {
  const lim = rt().device.limits;
  const max = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  const before = memory().buffersCreated;
  assertThrows(
    () => rt().pool.acquire(max + 4, 'huge'),
    new RegExp(
      `tensor 'huge' needs ${max + 4} bytes, more than one GPU buffer can hold \\(the adapter's maxStorageBufferBindingSize is ${lim.maxStorageBufferBindingSize} bytes, maxBufferSize ${lim.maxBufferSize} bytes\\)`,
    ),
  );
  assert.is(memory().buffersCreated, before);
});

t(
  'a metadata-less state_dict (as PyTorch writes it) evaluates to the same predictions as the same weights with metadata',
  async () => {
    const tensors = tensorsOf(saved);
    const plain = join(dir, 'plain.safetensors');
    writeFileSync(plain, encodeSafetensors(tensors));
    // Older PyTorch saved BatchNorm without num_batches_tracked.
    const noCounters = join(dir, 'no-counters.safetensors');
    writeFileSync(
      noCounters,
      encodeSafetensors(
        Object.fromEntries(Object.entries(tensors).filter(([n]) => !n.endsWith('num_batches_tracked'))),
      ),
    );
    const test = synthetic(40, 3);
    const spec = [resolveAttack({ name: 'fgsm', loss: 'ce' })];
    const run = async (path: string, model?: string) => {
      const ckpt = await openCheckpoint(path, { model });
      return { ckpt, ...(await evaluateCheckpoint(ckpt, test, options({ attacks: spec }), 'test')) };
    };
    const ref = await run(saved);
    assert.is(ref.ckpt.architectureFrom, 'metadata');
    const labels = new Set(ref.predictions.map((l) => JSON.parse(l).clean_pred));
    assert.ok(labels.size >= 2, `the model predicts several classes (${[...labels]})`);
    for (const [path, model, from] of [
      [plain, undefined, 'tensor shapes'],
      [noCounters, undefined, 'tensor shapes'],
      [plain, 'wrn-10-1', '--model'],
    ] as const) {
      const got = await run(path, model);
      assert.is(got.ckpt.architectureFrom, from);
      assert.is(got.report.architecture, 'wrn-10-1');
      assert.equal(got.predictions, ref.predictions, `${path} ${model ?? ''}`);
      assert.is(got.report.clean_accuracy, ref.report.clean_accuracy);
      assert.equal(
        got.report.attacks.map((a) => a.accuracy),
        ref.report.attacks.map((a) => a.accuracy),
      );
    }
    // DataParallel's prefix is named in the error, with the fix.
    const prefixed = join(dir, 'prefixed.safetensors');
    writeFileSync(
      prefixed,
      encodeSafetensors(Object.fromEntries(Object.entries(tensors).map(([n, v]) => [`module.${n}`, v]))),
    );
    await rejects(
      openCheckpoint(prefixed),
      /no architecture in the metadata, and the tensors are not a registered model's state_dict \(.*not wrn-DEPTH-WIDTH: no 'fc\.weight'/,
      /start with 'module\.'/,
      /give --model \(.*wrn-DEPTH-WIDTH/,
    );
    // TRADES' WideResNet also saves an unused group, sub_block1: refused (strict), with the fix.
    const trades = join(dir, 'trades.safetensors');
    const sub = Object.fromEntries(
      Object.entries(tensors)
        .filter(([n]) => n.startsWith('block1.'))
        .map(([n, v]) => [`sub_${n}`, v]),
    );
    writeFileSync(trades, encodeSafetensors({ ...tensors, ...sub }));
    await rejects(
      openCheckpoint(trades),
      /trades\.safetensors: does not match wrn-10-1 with 10 classes \(inferred from its tensor shapes\); it holds TRADES' unused 'sub_block1' tensors: drop them when converting \(see docs\/evaluation\.md\): tensor 'sub_block1\.layer\.0\.bn1\.bias' \(F32 \[16\]\) in the file is not in wrn-10-1/,
    );
  },
);

t('bad metadata becomes a warning before the work, and the report still prints', async () => {
  const tensors = tensorsOf(saved);
  for (const method of ['free-8', 'null', '[1]', '{"name": 3}']) {
    const path = join(dir, 'odd-method.safetensors');
    writeFileSync(path, encodeSafetensors(tensors, { ...META, method }));
    const ckpt = await openCheckpoint(path);
    assert.equal(ckpt.warnings, [
      `metadata 'method' is ${JSON.stringify(method)}, not advfree's method record (JSON with a name); reported as given`,
    ]);
    const { report } = await evaluateCheckpoint(ckpt, synthetic(4, 1), options(), 'test');
    const text = formatReport(report);
    const quoted = JSON.stringify(method).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(
      text,
      new RegExp(
        `^${report.checkpoint} \\(wrn-10-1, unreadable method metadata ${quoted} \\(.*\\)\\) on cifar10 test, 4 images \\(images 0\\.\\.3: a subset, not a final figure\\)`,
      ),
    );
    assert.equal(JSON.parse(JSON.stringify(report)).warnings, ckpt.warnings);
  }
  const ok = await openCheckpoint(saved);
  assert.equal(ok.warnings, []);
  assert.match(
    formatReport((await evaluateCheckpoint(ok, synthetic(4, 1), options(), 'test')).report),
    /\(wrn-10-1, natural\) on cifar10 test/,
  );
});

t('--offset picks test images offset.. and numbers the predictions by dataset index', async () => {
  const test = synthetic(30, 9);
  const ckpt = await openCheckpoint(saved);
  const all = (await evaluateCheckpoint(ckpt, test, options(), 'test')).predictions.map((l) => JSON.parse(l));
  const part = await evaluateCheckpoint(ckpt, testExamples(test, 17), options({ offset: 17, testSize: 30 }), 'test');
  const got = part.predictions.map((l) => JSON.parse(l));
  assert.is(got.length, 13);
  assert.equal(got, all.slice(17), 'the same images, labels and predictions');
  assert.is(got[0].index, 17);
  assert.is(got[0].label, test.y[17]);
  assert.ok(part.report.limited && part.report.offset === 17 && part.report.examples === 13);
});

t(
  '--normalize applies (x - mean) / std inside the model: logits equal the plain model on host-normalised input',
  async () => {
    const ckpt = await openCheckpoint(saved);
    const norm = { mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616] };
    const test = synthetic(6, 4);
    const x = Float32Array.from(test.x, (v) => v / 255);
    // float64 on the host: channel c of image i is x[i·3072 + c·1024 + p].
    const normalized = Float32Array.from(
      x,
      (v, k) => (v - norm.mean[Math.floor(k / 1024) % 3]) / norm.std[Math.floor(k / 1024) % 3],
    );
    const plain = randomModel(1);
    plain.eval();
    const expected = await tidy(() => plain.forward(tensor(normalized, [6, 3, 32, 32]))).data();
    plain.normalization = new InputNormalization(norm);
    const got = await tidy(() => plain.forward(tensor(x, [6, 3, 32, 32]))).data();
    assertClose(got, expected, 'logits', 1e-4, 1e-4);
    plain.dispose();
    // Through the evaluation: the report records it.
    const { report } = await evaluateCheckpoint(ckpt, test, options({ normalization: norm }), 'test');
    assert.equal(report.normalization, norm);
    assert.match(
      formatReport(report),
      /inputs normalised \(x - \[0\.4914, 0\.4822, 0\.4465\]\) \/ \[0\.2471, 0\.2435, 0\.2616\]/,
    );
    assertThrows(() => parseCommand(evaluate, ['--normalize', '0.5,0']), /every std must be > 0/);
    assertThrows(() => parseCommand(evaluate, ['--normalize', '1,2,3']), /MEAN,STD or 3 means then 3 stds/);
  },
);

t(
  'missing files and folders are named; outputs never replace the checkpoint, nor an existing file without --force',
  async () => {
    const hash = () => createHash('sha256').update(readFileSync(saved)).digest('hex');
    const h0 = hash();
    assert.is(
      await usageError(evaluate, '--checkpoint', join(dir, 'absent.safetensors')),
      `CliError: eval: --checkpoint ${join(dir, 'absent.safetensors')}: no such file`,
    );
    assert.is(
      await usageError(evaluate, '--checkpoint', dir),
      `CliError: eval: --checkpoint ${dir} is a folder; give the model file, e.g. --checkpoint ${saved}`,
    );
    for (const force of [[], ['--force']]) {
      assert.is(
        await usageError(evaluate, '--checkpoint', saved, '--save-predictions', saved, ...force),
        `CliError: eval: --save-predictions ${saved} is the input ${saved}; refusing to overwrite it (choose another name)`,
      );
      assert.is(
        await usageError(show, '--checkpoint', saved, '--out', saved, ...force),
        `CliError: show: --out ${saved} is the input ${saved}; refusing to overwrite it (choose another name)`,
      );
    }
    // Another path to the same file (a hard link's twin is caught the same way, by device and inode).
    const sub = join(dir, 'sub');
    mkdirSync(sub, { recursive: true });
    assert.match(
      await usageError(
        evaluate,
        '--checkpoint',
        saved,
        '--save-predictions',
        join(sub, '..', 'model.safetensors'),
        '--force',
      ),
      /refusing to overwrite it/,
    );
    const other = join(dir, 'other.jsonl');
    writeFileSync(other, 'keep me');
    assert.is(
      await usageError(evaluate, '--checkpoint', saved, '--save-predictions', other),
      `CliError: eval: --save-predictions ${other} already exists; pass --force to replace it, or choose another name`,
    );
    assert.is(
      await usageError(evaluate, '--checkpoint', saved, '--save-predictions', join(dir, 'no-dir', 'p.jsonl')),
      `CliError: eval: --save-predictions ${join(dir, 'no-dir', 'p.jsonl')}: the folder ${join(dir, 'no-dir')} does not exist`,
    );
    assert.is(readFileSync(other, 'utf8'), 'keep me');
    assert.is(hash(), h0, 'the checkpoint is unchanged');
    assert.match(
      await usageError(evaluate, '--checkpoint', saved, '--offset', '10000'),
      /--offset 10000 is past the 10000 test images of cifar10/,
    );
  },
);

t.run();
