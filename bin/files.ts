// The files a command reads and writes, checked before any work: an input must be a readable file, an output
// must not be an input nor (without --force) an existing file, and its folder must take a new file, so that a
// long evaluation never ends in an error at the write. Outputs are then written atomically (nn/atomic.ts).
import { closeSync, openSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError } from './args.js';

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
    throw new CliError(`${cmd}: ${flag} ${path} is a folder; give the model file${statOrNull(inside)?.isFile() ? `, e.g. ${flag} ${inside}` : ''}`);
  }
}

/**
 * Throws (usage error) unless `path`, the value of `flag`, may be written: never over one of `inputs` (even
 * with --force), never over an existing file without `force`, and only into an existing folder that takes a new
 * file (tried with a temporary file, which is removed).
 */
export function checkOutputFile(cmd: string, flag: string, path: string, opts: { inputs: string[]; force: boolean }): void {
  const out = statOrNull(path);
  if (out) {
    if (out.isDirectory()) throw new CliError(`${cmd}: ${flag} ${path} is a folder; give a file name`);
    for (const input of opts.inputs) {
      const s = statOrNull(input);
      if (s && s.dev === out.dev && s.ino === out.ino) throw new CliError(`${cmd}: ${flag} ${path} is the input ${input}; refusing to overwrite it (choose another name)`);
    }
    if (!opts.force) throw new CliError(`${cmd}: ${flag} ${path} already exists; pass --force to replace it, or choose another name`);
  }
  const dir = dirname(resolve(path));
  const d = statOrNull(dir);
  if (!d?.isDirectory()) throw new CliError(`${cmd}: ${flag} ${path}: the folder ${dir} does not exist`);
  const probe = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.probe`);
  try {
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (e) {
    throw new CliError(`${cmd}: ${flag} ${path}: cannot write into ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
