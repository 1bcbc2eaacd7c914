// What the device's own errors look like to a user: Dawn's validation text never on stdout (which carries the
// results, e.g. eval --json), and a missing adapter explained by an overridden Vulkan driver list when there is one.
// The provocations run in a child process (this file, with ADVFREE_GPU_CHILD set), so their stdout can be read.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { icdOverride, init, NoAdapterError } from '../engine/index.js';
import { BufferPool } from '../engine/pool.js';
import { assertThrows } from './helpers.js';

const CHILD = process.env.ADVFREE_GPU_CHILD;

async function child(mode: string): Promise<void> {
  try {
    const r = await init();
    if (mode === 'validation') {
      // Over maxBufferSize: a validation error Dawn reports asynchronously, through the uncaptured-error event.
      r.device.createBuffer({
        size: r.device.limits.maxBufferSize + 4,
        usage: GPUBufferUsage.STORAGE,
        label: 'too-big',
      });
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
  spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, ...env, ADVFREE_GPU_CHILD: mode },
    encoding: 'utf8',
    timeout: 60_000,
  });

const t = suite('gpu-errors');

t("a Dawn validation error becomes the engine's error on stderr; stdout stays empty", () => {
  const r = run('validation');
  assert.is(r.stdout, '', 'nothing on stdout');
  assert.is(r.status, 3, r.stderr);
  assert.match(
    r.stderr,
    /advfree: GPU GPUValidationError: .*too-big|advfree: GPU GPUValidationError: [\s\S]*max buffer size/,
  );
  assert.match(r.stderr, /\(while running the test\)/);
});

t('no adapter: an overridden Vulkan driver list is named instead of the advice to install lavapipe', () => {
  const missing = '/nonexistent/advfree-icd.json';
  assert.is(
    icdOverride({ VK_ICD_FILENAMES: missing }),
    `VK_ICD_FILENAMES=${missing} names a file that does not exist (${missing}); unset VK_ICD_FILENAMES to use the installed drivers, or point it at an existing driver manifest (e.g. in /usr/share/vulkan/icd.d)`,
  );
  assert.match(
    icdOverride({ VK_DRIVER_FILES: `${missing}:/also/missing.json` })!,
    /^VK_DRIVER_FILES=.* names files that do not exist \(\/nonexistent\/advfree-icd\.json, \/also\/missing\.json\)/,
  );
  assert.match(
    icdOverride({ VK_ICD_FILENAMES: fileURLToPath(import.meta.url) })!,
    /restricts Vulkan to the drivers it names/,
  );
  assert.is(icdOverride({}), null);
  assert.not.match(new NoAdapterError('x', false, { VK_ICD_FILENAMES: missing }).message, /lavapipe/);
  assert.match(new NoAdapterError('x', false, {}).message, /install Mesa's software Vulkan driver \(lavapipe\)/);

  const r = run('no-adapter', { VK_ICD_FILENAMES: missing });
  assert.is(r.status, 3, r.stderr);
  assert.is(r.stdout, '');
  assert.match(
    r.stderr,
    /advfree: no WebGPU adapter \(.*\)\. VK_ICD_FILENAMES=\/nonexistent\/advfree-icd\.json names a file that does not exist/,
  );
});

t(
  'the buffer pool: out-of-memory reported with the sizes and limits; over the limits refused before createBuffer',
  async () => {
    // A stand-in device whose second allocation runs out of memory (lavapipe would need all of the host's memory).
    const scopes: string[] = [];
    const created: number[] = [];
    let pops = 0;
    const device = {
      limits: { maxStorageBufferBindingSize: 1_000_000, maxBufferSize: 4_194_304 },
      pushErrorScope: (filter: string) => scopes.push(filter),
      createBuffer: (d: { size: number }) => (created.push(d.size), { size: d.size }),
      popErrorScope: async () => (pops++ === 1 ? { message: 'Out of memory' } : null),
    };
    const reported: Error[] = [];
    const pool = new BufferPool(device as unknown as GPUDevice, (e) => reported.push(e));
    pool.acquire(1000, 'a');
    pool.acquire(300_000, 'b');
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(scopes, ['out-of-memory', 'out-of-memory']);
    assert.equal(
      reported.map((e) => e.message),
      [
        "advfree: out of GPU memory creating a 327680-byte buffer for 'b' with 1024 bytes of buffers already allocated (the adapter's maxStorageBufferBindingSize is 1000000 bytes, maxBufferSize 4194304 bytes): Out of memory",
      ],
    );
    assertThrows(
      () => pool.acquire(1_000_004, 'c'),
      /^advfree: tensor 'c' needs 1000004 bytes, more than one GPU buffer can hold \(the adapter's maxStorageBufferBindingSize is 1000000 bytes, maxBufferSize 4194304 bytes\); a smaller batch \(--batch\) or model would fit$/,
    );
    // 950,000 bytes fit, but their size class (1,048,576) would not: the buffer is the limit itself.
    assert.is(pool.acquire(950_000, 'd').size, 1_000_000);
    assert.equal(created, [1024, 327680, 1_000_000]);
  },
);

t(
  'the buffer pool: a kernel output takes the oldest released buffer at once, an upload only one released before a submit',
  () => {
    const destroyed: string[] = [];
    const device = {
      limits: { maxStorageBufferBindingSize: 1 << 20, maxBufferSize: 1 << 20 },
      pushErrorScope: () => {},
      createBuffer: (d: { size: number; label: string }) => ({
        size: d.size,
        label: d.label,
        destroy: () => destroyed.push(d.label),
      }),
      popErrorScope: async () => null,
    };
    let trims = 0;
    const pool = new BufferPool(
      device as unknown as GPUDevice,
      () => {},
      () => trims++,
    );
    const label = (b: GPUBuffer) => (b as unknown as { label: string }).label;
    const [a, b, c] = ['a', 'b', 'c'].map((n) => pool.acquire(1000, n));
    pool.release(c);
    pool.release(a);
    pool.onSubmit();
    pool.release(b);
    // Kernel outputs, oldest first whatever the release order: a, then b (released since the submit: later
    // commands run after the ones reading it), then c.
    assert.equal(
      ['x', 'y', 'z'].map((n) => label(pool.acquire(1000, n))),
      ['a', 'b', 'c'],
    );
    pool.release(a);
    // An upload runs before unsubmitted commands: a is not safe yet, so a new buffer.
    assert.is(label(pool.acquire(1000, 'upload', true)), 'upload');
    pool.onSubmit();
    assert.is(label(pool.acquire(1000, 'upload2', true)), 'a');
    const d = pool.acquire(1000, 'd');
    const e = pool.acquire(1000, 'e');
    pool.release(e);
    pool.onSubmit();
    pool.release(d);
    pool.trim();
    assert.equal(destroyed, ['e'], 'trim destroys only what a submitted command may have used');
    assert.is(trims, 1, 'the runtime hears of it (its bind groups may hold the buffers)');
    assert.is(label(pool.acquire(1000, 'f')), 'd');
  },
);

if (CHILD) await child(CHILD);
else t.run();
