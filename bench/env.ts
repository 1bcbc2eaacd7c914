// What every report names so its numbers can be traced: adapter, driver, backend, git commit and versions.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Runtime } from '../engine/index.js';

export interface BenchEnv {
  adapter: string;
  /** The adapter's driver description (e.g. 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)'). */
  driver: string;
  backend: string;
  software: boolean;
  /** HEAD, with '+dirty' when the working tree differs from it. */
  commit: string;
  /** Dawn toggles the bench disabled when opening the device (timestamp_quantization for exact timestamps). */
  disabledToggles: string[];
  node: string;
  /** The `webgpu` package (Dawn's Node bindings). */
  dawn: string;
  date: string;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function packageVersion(name: string): string {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function benchEnv(r: Runtime, disabledToggles: string[]): BenchEnv {
  const d = r.gpu.description;
  const head = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    adapter: r.gpu.name,
    driver: d.description || 'unknown',
    backend: d.backend,
    software: d.software,
    commit: head ? `${head}${dirty ? '+dirty' : ''}` : 'unknown (not a git checkout)',
    disabledToggles,
    node: process.version,
    dawn: `webgpu ${packageVersion('webgpu')}`,
    date: new Date().toISOString(),
  };
}
