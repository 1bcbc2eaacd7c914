// The four tabular datasets fetched through their Debian sources (apt-get download, dpkg-deb -x, SHA-256
// verified) into a temporary data folder: rows, columns and class counts as documented, the first rows against
// the canonical UCI files, the box and threat models consistent with the declared immutable features, the
// `advfree data --export` file round-tripped, and a reload from its metadata reproducing the test inputs.
// Needs the Debian package lists (`apt-get update`), as CI's set-up provides.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureDataset } from '../data/cache.js';
import type { LoadedDataset } from '../data/dataset.js';
import type { Table } from '../data/formats/table.js';
import { DATASETS, findDataset, loadDataset } from '../data/registry.js';
import { arffTable, lazyLoadTable, rdaTable } from '../data/tabular/read.js';
import { TABULAR_KEYS } from '../data/tabular/tabular-dataset.js';
import { decodeSafetensors } from '../nn/safetensors.js';

const t = suite('tabular-packages');
const dataDir = mkdtempSync(join(tmpdir(), 'advfree-tabular-packages-'));
const TABULAR = ['credit-g', 'lending-club', 'letter', 'spambase'];
const dirs = new Map<string, string>();
const loaded = new Map<string, LoadedDataset>();

t.before(async () => {
  const got = await Promise.all(TABULAR.map((name) => ensureDataset(findDataset(name).cache!, { dataDir })));
  TABULAR.forEach((name, i) => dirs.set(name, got[i]));
  for (const name of TABULAR) loaded.set(name, await loadDataset(findDataset(name), { dataDir, remote: false }));
});
t.after(() => rmSync(dataDir, { recursive: true, force: true }));

/** Rows and columns of a table, and the rows of each class of its label. */
function shapeOf(tab: Table, label: string): { rows: number; columns: number; classes: Record<string, number> } {
  const c = tab.columns.find((x) => x.name === label);
  if (c?.kind !== 'nominal') throw new Error(`no nominal label ${label}`);
  const classes: Record<string, number> = {};
  c.levels.forEach((l, i) => (classes[l] = c.codes.filter((v) => v === i).length));
  return { rows: tab.rows, columns: tab.columns.length, classes };
}

/** Row `i` of a table's numeric columns and nominal columns' levels, as text. */
const row = (tab: Table, i: number): string[] =>
  tab.columns.map((c) => (c.kind === 'numeric' ? String(c.values[i]) : c.levels[c.codes[i]]));

t('every tabular dataset is registered, fetched from its Debian package and verified', () => {
  assert.equal(
    DATASETS.filter((d) => d.kind === 'tabular').map((d) => d.name),
    TABULAR,
  );
  for (const name of TABULAR) assert.ok(dirs.get(name)?.endsWith(name), name);
});

t('without the package lists, the Debian source fails saying so and what to run', async () => {
  // APT_CONFIG points apt-get at an empty lists folder: what a machine that never ran `apt-get update` has.
  const lists = mkdtempSync(join(dataDir, 'lists-'));
  writeFileSync(join(dataDir, 'apt.conf'), `Dir::State::Lists "${lists}/";\n`);
  const before = process.env.APT_CONFIG;
  process.env.APT_CONFIG = join(dataDir, 'apt.conf');
  try {
    await ensureDataset(findDataset('letter').cache!, { dataDir: mkdtempSync(join(dataDir, 'nolists-')) }).then(
      () => assert.unreachable('apt-get download worked without package lists'),
      (e: Error) =>
        assert.match(
          e.message,
          /apt-get download r-cran-mlbench=2\.1-3-1 failed: .*\(the package lists may be missing or stale: run `apt-get update` once, which needs root\)/s,
        ),
    );
  } finally {
    if (before === undefined) delete process.env.APT_CONFIG;
    else process.env.APT_CONFIG = before;
  }
});

t(
  'letter: 20,000 x 17, the UCI class counts, the first row of letter-recognition.data, the first 16,000 rows train',
  () => {
    const { table } = rdaTable(dirs.get('letter')!, 'LetterRecognition.rda', 'LetterRecognition', 'letter');
    const s = shapeOf(table, 'lettr');
    assert.equal([s.rows, s.columns], [20000, 17]);
    // letter-recognition.names, "Class Distribution".
    const counts = [
      789, 766, 736, 805, 768, 775, 773, 734, 755, 747, 739, 761, 792, 783, 753, 803, 783, 758, 748, 796, 813, 764, 752,
      787, 786, 734,
    ];
    assert.equal(Object.values(s.classes), counts);
    assert.equal(row(table, 0).join(','), 'T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8');
    const d = loaded.get('letter')!;
    // Row 0 scaled by the training ranges: every feature spans 0..15 in training except yegvx (1..15).
    const want = [2, 8, 3, 5, 1, 8, 13, 0, 6, 6, 10, 8, 0, 8, 0]
      .map((v) => Math.fround(v / 15))
      .concat(Math.fround(7 / 14));
    assert.equal([...d.train.x.subarray(0, 16)], want);
    assert.equal([d.train.count, d.test.count, d.train.y[0]], [16000, 4000, 19]);
    const last = row(table, 16000).slice(1).map(Number);
    assert.equal(
      [...d.test.x.subarray(0, 15)],
      last.slice(0, 15).map((v) => Math.fround(v / 15)),
    );
  },
);

t('spambase: 4,601 x 58, 2,788 nonspam / 1,813 spam, the first row of spambase.data', () => {
  const { table } = rdaTable(dirs.get('spambase')!, 'spam.rda', 'spam', 'spambase');
  const s = shapeOf(table, 'type');
  assert.equal([s.rows, s.columns, s.classes], [4601, 58, { nonspam: 2788, spam: 1813 }]);
  const first =
    '0,0.64,0.64,0,0.32,0,0,0,0,0,0,0.64,0,0,0,0.32,0,1.29,1.93,0,0.96,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.778,0,0,3.756,61,278';
  assert.equal(row(table, 0).join(','), `${first},spam`);
  const d = loaded.get('spambase')!;
  assert.equal([d.train.count, d.test.count], [3680, 921]);
  assert.equal([...d.test.y].filter((y) => y === 1).length, Math.round(0.2 * 1813));
});

t('credit-g: 1,000 x 21 (7 numeric, 13 nominal), 700 good / 300 bad, the first row of credit-g.arff', () => {
  const { table } = arffTable(dirs.get('credit-g')!, 'credit-g.arff', 'credit-g');
  const s = shapeOf(table, 'class');
  assert.equal([s.rows, s.columns, s.classes], [1000, 21, { good: 700, bad: 300 }]);
  assert.equal(
    [
      table.columns.filter((c) => c.kind === 'numeric').length,
      table.columns.filter((c) => c.kind === 'nominal').length,
    ],
    [7, 14],
  );
  assert.equal(
    row(table, 0).join('|'),
    '<0|6|critical/other existing credit|radio/tv|1169|no known savings|>=7|4|male single|none|4|real estate|67|none|own|2|skilled|1|yes|yes|good',
  );
  const d = loaded.get('credit-g')!;
  const age = d.features!.indexOf('age');
  assert.equal(
    [
      d.box.mutable[age],
      d.box.mutable[d.features!.indexOf('foreign_worker=yes')],
      d.box.mutable[d.features!.indexOf('duration')],
    ],
    [0, 0, 1],
  );
});

t('lending-club: 9,857 x 23 (17 numeric, 6 factors), 517 bad loans (5.2%), from the lazy-load database', () => {
  const { table } = lazyLoadTable(dirs.get('lending-club')!, 'lending_club', 'lending-club');
  const s = shapeOf(table, 'Class');
  assert.equal([s.rows, s.columns, s.classes], [9857, 23, { bad: 517, good: 9340 }]);
  assert.equal(
    [
      table.columns.filter((c) => c.kind === 'numeric').length,
      table.columns.filter((c) => c.kind === 'nominal').length,
    ],
    [17, 6],
  );
  const d = loaded.get('lending-club')!;
  assert.equal([...d.test.y].filter((y) => y === 0).length, Math.round(0.2 * 517));
});

t(
  'each dataset: inputs inside the box, the declared immutable features fixed, the L-inf radius inscribed in the L2 ball',
  () => {
    for (const name of TABULAR) {
      const desc = findDataset(name);
      const d = loaded.get(name)!;
      const n = desc.shape[0];
      assert.is(d.features!.length, n, name);
      for (const s of [d.train, d.test]) {
        for (let i = 0; i < s.x.length; i++)
          if (!(s.x[i] >= d.box.lower[i % n] && s.x[i] <= d.box.upper[i % n]))
            assert.unreachable(`${name}: input ${i % n} of row ${Math.floor(i / n)} is ${s.x[i]}`);
      }
      // Mutable: the numeric features not declared immutable, nothing else.
      const mutable = d.features!.map((f): number =>
        !f.includes('=') && !desc.immutable!.features.includes(f) ? 1 : 0,
      );
      assert.equal([...d.box.mutable], mutable, name);
      const count = mutable.reduce((a, b) => a + b, 0);
      const linf = desc.otherThreats!.find((x) => x.norm === 'linf')!;
      assert.is(linf.eps, Math.floor((1000 * 0.5) / Math.sqrt(count)) / 1000, name);
      assert.match(linf.why, new RegExp(`on the ${count} mutable features`));
      assert.equal([desc.threat.norm, desc.threat.eps], ['l2', 0.5]);
    }
  },
);

t(
  'advfree data NAME --export writes what the model sees, refuses to overwrite, and eval-style reload reproduces it',
  async () => {
    const cli = fileURLToPath(new URL('../advfree.mjs', import.meta.url));
    const out = join(dataDir, 'credit-g.safetensors');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [cli, 'data', 'credit-g', '--data-dir', dataDir, '--offline', ...args], {
        encoding: 'utf8',
      });
    const r = run('--export', out);
    assert.is(r.status, 0, r.stderr);
    const { tensors, metadata } = decodeSafetensors(readFileSync(out));
    const d = loaded.get('credit-g')!;
    const same = (a: ArrayBufferView, b: ArrayBufferView) =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    assert.equal(
      [tensors['train.x'].shape, tensors['test.x'].shape, tensors['test.y'].dtype, tensors.mutable.dtype],
      [[800, 63], [200, 63], 'I64', 'U8'],
    );
    assert.ok(same(tensors['train.x'].data, d.train.x) && same(tensors['test.x'].data, d.test.x), 'inputs');
    assert.equal([...tensors['test.y'].data].map(Number), [...d.test.y]);
    assert.ok(
      same(tensors.lower.data, d.box.lower) &&
        same(tensors.upper.data, d.box.upper) &&
        same(tensors.mutable.data, d.box.mutable),
      'box',
    );
    assert.is(metadata[TABULAR_KEYS.preprocessing], d.metadata[TABULAR_KEYS.preprocessing]);
    assert.equal(JSON.parse(metadata.features), d.features);
    const again = run('--export', out);
    assert.is(again.status, 2);
    assert.match(again.stderr, /--export .*credit-g\.safetensors already exists; pass --force/);
    const input = join(dirs.get('credit-g')!, 'credit-g.arff');
    const clobber = run('--export', input, '--force');
    assert.match(clobber.stderr, /is the input .*credit-g\.arff; refusing to overwrite it/);
    assert.is(run('--export', out, '--force').status, 0);
    // What eval does: load with the checkpoint's (here the export's) metadata as the record.
    const reloaded = await loadDataset(findDataset('credit-g'), { dataDir, remote: false, recorded: metadata });
    assert.ok(same(reloaded.test.x, d.test.x), 'reloaded test inputs');
  },
);

t.run();
