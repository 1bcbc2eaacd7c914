// The data cache through the built CLI (tests/cli-run.ts): each problem ends with exit 1 and a message naming
// the path and the fix, and nothing in the cache is deleted. Permission errors need a user that permissions
// apply to: as root (who reads anything) the CLI runs as `nobody`, wherever the repository is cloned.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { advfree, CLI, cliRefuses } from './cli-run.js';

const t = suite('data-cli');

const tmp = mkdtempSync(join(tmpdir(), 'advfree-data-cli-'));
chmodSync(tmp, 0o755); // so that `nobody` can reach the cases below
t.after(() => {
  chmodSync(tmp, 0o755);
  spawnSync('chmod', ['-R', 'u+rwx', tmp]);
  rmSync(tmp, { recursive: true, force: true });
});
let dirs = 0;
const fresh = (what: string): string => {
  const d = join(tmp, `${what}-${dirs++}`);
  mkdirSync(d, { mode: 0o755 });
  return d;
};

/** `advfree data cifar10 --offline --data-dir DIR`: must fail with exit 1 and exactly `message` on stderr. */
function refuses(dataDir: string, message: string, unprivileged = false): void {
  cliRefuses(['data', 'cifar10', '--offline', '--data-dir', dataDir], 1, message, { unprivileged });
}

const ELSEWHERE = 'point --data-dir (or ADVFREE_DATA) at another folder';

t('--help: every command name is followed by two spaces, summaries in one column', () => {
  const r = advfree(['--help']);
  assert.is(r.status, 0);
  const lines = r.stdout.split('\n');
  const first = lines.indexOf('Commands:') + 1;
  const rows = lines.slice(first, lines.indexOf('', first));
  const names = ['train', 'eval', 'show', 'plot', 'experiment', 'bench', 'methods', 'data', 'demo', 'doctor'];
  assert.equal(
    rows.map((l) => /^ {2}(\S+)/.exec(l)?.[1]),
    names,
  );
  const width = Math.max(...names.map((n) => n.length)) + 4; // two spaces before, two after the longest name
  for (const [i, l] of rows.entries()) {
    assert.is(l.slice(2 + names[i].length, width), ' '.repeat(width - 2 - names[i].length), `${names[i]}: padding`);
    assert.match(l.slice(width), /^\S/, `${names[i]}: summary starts in column ${width}`);
  }
});

t('--data-dir naming a file: the path and "is a file, not a folder"; the file is untouched', () => {
  const file = join(fresh('f'), 'notes.txt');
  writeFileSync(file, 'mine');
  refuses(file, `the data folder ${file} is a file, not a folder: move it away or ${ELSEWHERE}`);
  assert.is(readFileSync(file, 'utf8'), 'mine');
});

t('a folder where a cached file should be: reported, nothing deleted', () => {
  const dataDir = fresh('c');
  const entry = join(dataDir, 'cifar-10-batches-bin', 'data_batch_3.bin');
  mkdirSync(entry, { recursive: true });
  refuses(
    dataDir,
    `cifar10: cannot read the cache (nothing was deleted):\n  ${entry} is a folder, not a file\n` +
      'Fix the permissions or the disk, or move the entry away yourself so that the file is fetched again.',
  );
  assert.ok(existsSync(entry));
});

t('a damaged cached file and no source: it stays, and the error names it and `advfree data --source`', () => {
  const dataDir = fresh('c');
  const dir = join(dataDir, 'cifar-10-batches-bin');
  mkdirSync(dir);
  writeFileSync(join(dir, 'test_batch.bin'), 'not a batch');
  const need = [
    'data_batch_1.bin',
    'data_batch_2.bin',
    'data_batch_3.bin',
    'data_batch_4.bin',
    'data_batch_5.bin',
    'test_batch.bin',
  ];
  refuses(
    dataDir,
    `cached ${dir}/test_batch.bin failed verification (truncated: 11 bytes, expected 30730000 (10000 records of 3073 bytes)); ` +
      'fetching a verified copy (the damaged file stays until one is in hand)\n' +
      `cifar10: could not get ${need.join(', ')} into ${dir}:\n  no source given and network sources are off\n` +
      `${dir}/test_batch.bin failed verification (truncated: 11 bytes, expected 30730000 (10000 records of 3073 bytes)) and stays where it is.\n` +
      'Supply a good copy: advfree data cifar10 --source PATH (a local folder holding the .bin files or cifar-10-binary.tar.gz).',
  );
  assert.is(readFileSync(join(dir, 'test_batch.bin'), 'utf8'), 'not a batch');
  assert.equal(readdirSync(dir), ['test_batch.bin']);
});

t('permission denied on a cached file, the dataset folder or the data folder: named as such, nothing deleted', () => {
  const dataDir = fresh('c');
  const dir = join(dataDir, 'cifar-10-batches-bin');
  mkdirSync(dir, { mode: 0o755 });
  const file = join(dir, 'data_batch_1.bin');
  writeFileSync(file, 'mine', { mode: 0o000 });
  refuses(
    dataDir,
    `cifar10: cannot read the cache (nothing was deleted):\n  ${file} cannot be read: permission denied (EACCES)\n` +
      'Fix the permissions or the disk, or move the entry away yourself so that the file is fetched again.',
    true,
  );
  chmodSync(dir, 0o000);
  const fix = (p: string) =>
    `cannot be read: permission denied (EACCES): fix its permissions (chmod u+rwx ${p}) or ${ELSEWHERE}`;
  refuses(dataDir, `the cifar10 folder ${dir} ${fix(dir)}`, true);
  chmodSync(dataDir, 0o000);
  refuses(dataDir, `the data folder ${dataDir} ${fix(dataDir)}`, true);
  chmodSync(dataDir, 0o755);
  chmodSync(dir, 0o755);
  chmodSync(file, 0o644);
  assert.is(readFileSync(file, 'utf8'), 'mine');
  // Readable but read-only, with files to fetch: checked before any source is tried.
  rmSync(file);
  chmodSync(dataDir, 0o555);
  refuses(
    dataDir,
    `the data folder ${dataDir} cannot be written: permission denied (EACCES): fix its permissions (chmod u+rwx ${dataDir}) or ${ELSEWHERE}`,
    true,
  );
  chmodSync(dataDir, 0o755);
});

t('a fetch stopped by SIGINT, SIGTERM or SIGHUP while staging removes its staging folder', async () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const dataDir = fresh('c');
    // A source whose files are named pipes: the copy into the staging folder waits on the first until stopped.
    const src = fresh('fifo');
    for (const f of [
      'data_batch_1.bin',
      'data_batch_2.bin',
      'data_batch_3.bin',
      'data_batch_4.bin',
      'data_batch_5.bin',
      'test_batch.bin',
    ]) {
      spawnSync('mkfifo', [join(src, f)]);
    }
    const child = spawn(
      process.execPath,
      [CLI, 'data', 'cifar10', '--offline', '--source', src, '--data-dir', dataDir],
      { stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } },
    );
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
    const staging = () => readdirSync(dataDir).filter((n) => n.startsWith('.staging-'));
    for (let waited = 0; staging().length === 0; waited += 50) {
      if (waited > 20_000) assert.unreachable(`no staging folder in ${dataDir} after 20 s`);
      await new Promise((res) => setTimeout(res, 50));
    }
    child.kill(signal);
    assert.is(await exited, signal, 'the signal still ends the process');
    assert.equal(readdirSync(dataDir), [], `${signal}: the staging folder is removed`);
  }
});

t.run();
