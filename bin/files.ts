// The files a command reads and writes, checked before any work: an input must be a readable file, an output
// must not be an input, nor a file a run folder owns (its checkpoints, metrics, pointer, lock), nor (without
// --force) an existing file, and its folder must take a new file, so that a long evaluation never ends in an
// error at the write. --force replaces an earlier output, nothing else. Outputs are then written atomically
// (nn/atomic.ts).
import { closeSync, openSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError } from './args.js';
import { owningRun } from '../train/run-folder.js';

const statOrNull = (path: string): Stats | null => {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
};

/** Throws (usage error) unless `path`, the value of `flag`, is an existing file. */
export function checkInputFile(cmd: string, flag: string, path: string): void {
  const s = statOrNull(path);
  if (!s) throw new CliError(`${cmd}: ${flag} ${path}: no such file`);
  if (s.isDirectory()) {
    const inside = join(path, 'model.safetensors');
    throw new CliError(
      `${cmd}: ${flag} ${path} is a folder; give the model file${statOrNull(inside)?.isFile() ? `, e.g. ${flag} ${inside}` : ''}`,
    );
  }
}

/** Throws (usage error) if `path` is a file a run folder owns, which no --force lets another command replace. */
function checkNotRunFile(cmd: string, flag: string, path: string): void {
  const run = owningRun(path);
  if (run)
    throw new CliError(
      `${cmd}: ${flag} ${path} belongs to the run in ${run} (a file its training writes); --force never replaces a run's files: choose another name`,
    );
}

/** Throws (usage error) unless a folder (existing, or created with its parents) at `dir` can take new files. */
function checkWritableFolder(cmd: string, flag: string, path: string, dir: string): void {
  let d = resolve(dir);
  while (!statOrNull(d)) d = dirname(d);
  if (!statOrNull(d)!.isDirectory()) throw new CliError(`${cmd}: ${flag} ${path}: ${d} is a file, not a folder`);
  const probe = join(d, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.probe`);
  try {
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (e) {
    throw new CliError(
      `${cmd}: ${flag} ${path}: cannot write into ${d} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}

/**
 * Throws (usage error) unless `path`, the value of `flag`, may be written: never over one of `inputs` nor a
 * run's file (even with --force), never over an existing file without `force`, and only into an existing folder
 * that takes a new file (tried with a temporary file, which is removed).
 */
export function checkOutputFile(
  cmd: string,
  flag: string,
  path: string,
  opts: { inputs: string[]; force: boolean },
): void {
  if (path === '') throw new CliError(`${cmd}: ${flag} is empty; give a file name`);
  checkNotRunFile(cmd, flag, path);
  const out = statOrNull(path);
  if (out) {
    if (out.isDirectory()) throw new CliError(`${cmd}: ${flag} ${path} is a folder; give a file name`);
    for (const input of opts.inputs) {
      const s = statOrNull(input);
      if (s && s.dev === out.dev && s.ino === out.ino)
        throw new CliError(
          `${cmd}: ${flag} ${path} is the input ${input}; refusing to overwrite it (choose another name)`,
        );
    }
    if (!opts.force)
      throw new CliError(`${cmd}: ${flag} ${path} already exists; pass --force to replace it, or choose another name`);
  }
  const dir = dirname(resolve(path));
  if (!statOrNull(dir)?.isDirectory()) throw new CliError(`${cmd}: ${flag} ${path}: the folder ${dir} does not exist`);
  checkWritableFolder(cmd, flag, path, dir);
}

/**
 * Throws (usage error) unless `dir`, the value of `flag`, may receive `files`: a folder (or a path where one can
 * be created), none of the files a run's or (without `force`) already there, as checkOutputFile for each; `fix`
 * replaces the advice to pass --force.
 */
export function checkOutputFolder(
  cmd: string,
  flag: string,
  dir: string,
  opts: { files: string[]; force: boolean; fix?: string },
): void {
  if (dir === '') throw new CliError(`${cmd}: ${flag} is empty; give a folder`);
  const d = statOrNull(dir);
  if (d && !d.isDirectory()) throw new CliError(`${cmd}: ${flag} ${dir} is a file; give a folder`);
  for (const f of opts.files) checkNotRunFile(cmd, flag, join(dir, f));
  const there = opts.files.filter((f) => statOrNull(join(dir, f)));
  const folders = there.filter((f) => statOrNull(join(dir, f))!.isDirectory());
  if (folders.length)
    throw new CliError(
      `${cmd}: ${flag} ${dir}: ${folders.join(', ')} ${folders.length > 1 ? 'are folders' : 'is a folder'} where a file goes; choose another folder`,
    );
  if (there.length && !opts.force) {
    const fix = opts.fix ?? `pass --force to replace ${there.length > 1 ? 'them' : 'it'}, or choose another folder`;
    throw new CliError(`${cmd}: ${flag} ${dir} already holds ${there.join(', ')} (an earlier output); ${fix}`);
  }
  checkWritableFolder(cmd, flag, dir, dir);
}
