// PyTorch's own CPU backend as a second peer for training steps, where it is installed (it is not a dependency):
// bench/pytorch/wrn_step.py times the peer suite's WRN step (forward, input and weight gradients, SGD) and
// bench/pytorch/model_step.py the models suite's natural step of any registered model, each in a child process
// after ours, in the same bench run. Where python3 or torch is missing the report says so.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelSpec } from './method-cost.js';

export type PytorchStep =
  { measured: true; version: string; threads: number; wallMs: number } | { measured: false; reason: string };

const scriptPath = (name: string): string => join('bench', 'pytorch', name);

/** A script of bench/pytorch/, from the bundle's folder up (dist/ and dist/tests/ both sit in the checkout). */
function script(name: string): string | null {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, scriptPath(name)))) return join(dir, scriptPath(name));
    if (dirname(dir) === dir) return null;
  }
}

/** Interpreters to try, in order: ADVFREE_PYTHON, the PATH's python3, the system's (a pyenv shim may hide its torch). */
const pythons = (): string[] => [
  ...new Set([process.env.ADVFREE_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p)),
];

type Attempt = { ok: true; stdout: string } | { ok: false; reason: string };

function attempt(python: string, args: string[], name: string): Promise<Attempt> {
  return new Promise((resolve) => {
    execFile(python, args, { timeout: 600_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (!err) resolve({ ok: true, stdout });
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        resolve({ ok: false, reason: `${python} is not installed` });
      else if (/No module named 'torch'/.test(stderr)) resolve({ ok: false, reason: `${python} has no torch module` });
      else
        resolve({
          ok: false,
          reason: `${python} ${scriptPath(name)} failed: ${(stderr || err.message).trim().split('\n').pop()}`,
        });
    });
  });
}

/** Runs a timing script of bench/pytorch/ with the first interpreter that has torch. */
async function timeScript(name: string, args: string[]): Promise<PytorchStep> {
  const file = script(name);
  if (!file) return { measured: false, reason: `${scriptPath(name)} not found beside the bundle` };
  const reasons: string[] = [];
  for (const python of pythons()) {
    const r = await attempt(python, [file, ...args], name);
    if (!r.ok) {
      reasons.push(r.reason);
      continue;
    }
    const out = JSON.parse(r.stdout) as { torch: string; threads: number; wall_ms: number };
    return { measured: true, version: out.torch, threads: out.threads, wallMs: out.wall_ms };
  }
  return { measured: false, reason: `${reasons.join('; ')} (apt install python3-torch, or set ADVFREE_PYTHON)` };
}

/** The peer suite's WRN step (with the input gradient), on every core. */
export const pytorchStep = (
  arch: string,
  batch: number,
  image: number,
  reps: number,
  warmup: number,
  seed: number,
): Promise<PytorchStep> =>
  timeScript('wrn_step.py', [
    '--arch',
    arch,
    '--batch',
    String(batch),
    '--image',
    String(image),
    '--reps',
    String(reps),
    '--warmup',
    String(warmup),
    '--seed',
    String(seed),
  ]);

/** The models suite's natural step of `spec` on `threads` threads. */
export const pytorchModelStep = (
  spec: ModelSpec,
  threads: number,
  reps: number,
  warmup: number,
  seed: number,
): Promise<PytorchStep> =>
  timeScript('model_step.py', [
    '--model',
    spec.model,
    '--input',
    spec.input.join(','),
    '--classes',
    String(spec.classes),
    '--batch',
    String(spec.batch),
    '--threads',
    String(threads),
    '--reps',
    String(reps),
    '--warmup',
    String(warmup),
    '--seed',
    String(seed),
  ]);
