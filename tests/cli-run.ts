// Runs a command in this process (usageError), or the built CLI (dist/advfree.mjs, from `node scripts/build.mjs`)
// in a bare environment, as the tests of messages and exit codes need. Permission tests need a user that permissions apply to: as root (who reads
// anything) the CLI then runs as `nobody`, from a copy of the CLI and its runtime packages in a temporary folder
// that `nobody` can read, so that the suite passes wherever the repository is cloned (even under a folder of
// mode 700, which `nobody` cannot enter).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { parseCommand, type AnyCommand } from '../bin/args.js';

export const CLI = fileURLToPath(new URL('../advfree.mjs', import.meta.url));
const ROOT = dirname(dirname(CLI));

export const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** A file anyone may read: a hard link where it already is (no copy of large binaries), else a copy made so. */
function shareFile(from: string, to: string): void {
  const mode = statSync(from).mode;
  if (mode & 0o004) {
    try {
      linkSync(from, to);
      return;
    } catch {
      // Another file system: copied below.
    }
  }
  copyFileSync(from, to);
  chmodSync(to, mode & 0o111 ? 0o755 : 0o644);
}

function shareTree(from: string, to: string): void {
  mkdirSync(to, { mode: 0o755 });
  chmodSync(to, 0o755);
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) shareTree(join(from, e.name), join(to, e.name));
    else if (e.isFile()) shareFile(join(from, e.name), join(to, e.name));
  }
}

/** The packages the CLI loads at run time: package.json's dependencies and theirs (optional ones where installed). */
function runtimePackages(): string[] {
  const deps = (dir: string): string[] => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    return Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies });
  };
  const found = new Set<string>();
  const visit = (names: string[]) => {
    for (const n of names) {
      if (found.has(n) || !existsSync(join(ROOT, 'node_modules', n))) continue;
      found.add(n);
      visit(deps(join(ROOT, 'node_modules', n)));
    }
  };
  visit(deps(ROOT));
  return [...found];
}

let shared: string | null = null;

/** The folder (readable by every user) holding advfree.mjs and node_modules/ for runs as `nobody`; made once. */
function sharedCli(): string {
  if (shared) return shared;
  const dir = mkdtempSync(join(tmpdir(), 'advfree-cli-'));
  chmodSync(dir, 0o755);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  shareFile(CLI, join(dir, 'advfree.mjs'));
  mkdirSync(join(dir, 'node_modules'), { mode: 0o755 });
  for (const pkg of runtimePackages()) {
    mkdirSync(dirname(join(dir, 'node_modules', pkg)), { recursive: true, mode: 0o755 });
    shareTree(join(ROOT, 'node_modules', pkg), join(dir, 'node_modules', pkg));
  }
  shared = dir;
  return dir;
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in a bare environment; `unprivileged` runs it as `nobody` when this is root, so that file permissions apply. */
export function advfree(args: string[], opts: { unprivileged?: boolean } = {}): CliResult {
  assert.ok(existsSync(CLI), `${CLI} is missing: run 'node scripts/build.mjs' first`);
  const nobody = opts.unprivileged && asRoot;
  const cli = nobody ? join(sharedCli(), 'advfree.mjs') : CLI;
  const who = nobody ? { uid: NOBODY, gid: NOBODY, cwd: dirname(cli) } : {};
  // A bare environment: no ADVFREE_DATA, and none of the runner's settings (FORCE_COLOR with NO_COLOR makes node warn).
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    ...who,
  });
  if (r.error) throw r.error;
  return r;
}

/** Asserts that the CLI refuses `args` with exit `status`, exactly `message` on stderr and nothing on stdout. */
export function cliRefuses(
  args: string[],
  status: number,
  message: string,
  opts: { unprivileged?: boolean } = {},
): void {
  const r = advfree(args, opts);
  // Dawn's notices about limits it lowers (lavapipe) come before any message of ours, once the GPU is started.
  const stderr = r.stderr
    .split('\n')
    .filter((l) => !/^Warning: .* artificially reduced /.test(l))
    .join('\n');
  assert.is(stderr.trim(), message);
  assert.is(r.stdout, '');
  assert.is(r.status, status);
}

/** Runs a command's flag parsing and run() in this process, returning the error it throws ('CliError: ...' for a usage error). */
export async function usageError(cmd: AnyCommand, ...argv: string[]): Promise<string> {
  const flags = parseCommand(cmd, argv);
  if (flags === 'help') throw new Error('help');
  let msg: string | null = null;
  await cmd.run(flags as never).catch((e: Error) => (msg = `${e.constructor.name}: ${e.message}`));
  if (msg === null) assert.unreachable(`${cmd.name} ${argv.join(' ')} ran`);
  return msg!;
}
