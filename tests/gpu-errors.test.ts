// What the device's own errors look like to a user: Dawn's validation text never on stdout (which carries the
// results, e.g. eval --json), and a missing adapter explained by an overridden Vulkan driver list when there is one.
// The provocations run in a child process (this file, with ADVFREE_GPU_CHILD set), so their stdout can be read.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { icdOverride, init, NoAdapterError } from '../engine/index.js';

const CHILD = process.env.ADVFREE_GPU_CHILD;

async function child(mode: string): Promise<void> {
  try {
    const r = await init();
    if (mode === 'validation') {
      // Over maxBufferSize: a validation error Dawn reports asynchronously, through the uncaptured-error event.
      r.device.createBuffer({ size: r.device.limits.maxBufferSize + 4, usage: GPUBufferUsage.STORAGE, label: 'too-big' });
      await r.device.queue.onSubmittedWorkDone();
      r.gpu.check('the test');
      process.stderr.write('no error reported\n');
      process.exitCode = 4;
    }
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 3;
  }
}

const run = (mode: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, ...env, ADVFREE_GPU_CHILD: mode }, encoding: 'utf8', timeout: 60_000 });

const t = suite('gpu-errors');

t("a Dawn validation error becomes the engine's error on stderr; stdout stays empty", () => {
  const r = run('validation');
  assert.is(r.stdout, '', 'nothing on stdout');
  assert.is(r.status, 3, r.stderr);
  assert.match(r.stderr, /advfree: GPU GPUValidationError: .*too-big|advfree: GPU GPUValidationError: [\s\S]*max buffer size/);
  assert.match(r.stderr, /\(while running the test\)/);
});

t('no adapter: an overridden Vulkan driver list is named instead of the advice to install lavapipe', () => {
  const missing = '/nonexistent/advfree-icd.json';
  assert.is(icdOverride({ VK_ICD_FILENAMES: missing }),
    `VK_ICD_FILENAMES=${missing} names a file that does not exist (${missing}); unset VK_ICD_FILENAMES to use the installed drivers, or point it at an existing driver manifest (e.g. in /usr/share/vulkan/icd.d)`);
  assert.match(icdOverride({ VK_DRIVER_FILES: `${missing}:/also/missing.json` })!, /^VK_DRIVER_FILES=.* names files that do not exist \(\/nonexistent\/advfree-icd\.json, \/also\/missing\.json\)/);
  assert.match(icdOverride({ VK_ICD_FILENAMES: fileURLToPath(import.meta.url) })!, /restricts Vulkan to the drivers it names/);
  assert.is(icdOverride({}), null);
  assert.not.match(new NoAdapterError('x', false, { VK_ICD_FILENAMES: missing }).message, /lavapipe/);
  assert.match(new NoAdapterError('x', false, {}).message, /install Mesa's software Vulkan driver \(lavapipe\)/);

  const r = run('no-adapter', { VK_ICD_FILENAMES: missing });
  assert.is(r.status, 3, r.stderr);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /advfree: no WebGPU adapter \(.*\)\. VK_ICD_FILENAMES=\/nonexistent\/advfree-icd\.json names a file that does not exist/);
});

if (CHILD) await child(CHILD);
else t.run();
