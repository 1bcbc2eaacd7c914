// The npm package: `npm pack` builds it (prepack) and ships the bundled library, the CLI and the declarations and
// nothing else; installed into an empty project from the tarball, its entry computes on the adapter, its types
// check a user's TypeScript, and its `advfree` binary prints the commands.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const t = suite('package');

const ROOT = resolve('.');

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  assert.is(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout as string;
}

t('npm pack ships the library, the CLI and the declarations; installed, each works in an empty project', () => {
  const dir = mkdtempSync(join(tmpdir(), 'advfree-package-'));
  try {
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT })) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = packed.files.map((f) => f.path);
    for (const f of [
      'package.json',
      'README.md',
      'dist/index.mjs',
      'dist/advfree.mjs',
      'dist/types/index.d.ts',
      'dist/types/train/trainer.d.ts',
    ]) {
      assert.ok(files.includes(f), `the tarball holds ${f}`);
    }
    const stray = files.filter(
      (f) => !/^(package\.json|README\.md|dist\/(index\.mjs|advfree\.mjs|types\/.*\.d\.ts))$/.test(f),
    );
    assert.equal(stray, [], 'nothing else: no sources, tests, shaders (bundled) or results');

    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }),
    );
    // The dependencies come from npm's cache where it has them (npm ci filled it), else from the registry.
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed.filename)], {
      cwd: project,
    });

    writeFileSync(
      join(project, 'use.mjs'),
      [
        "import { add, ATTACKS, init, METHODS, shutdown, tensor } from 'advfree';",
        'await init();',
        'const a = tensor(Float32Array.from([1, 2, 3]), [3]);',
        'console.log(JSON.stringify({ sum: Array.from(await add(a, a).data()), methods: METHODS.length, attacks: ATTACKS.length }));',
        'shutdown();',
      ].join('\n'),
    );
    const used = JSON.parse(run('node', ['use.mjs'], { cwd: project }).trim().split('\n').at(-1)!);
    assert.equal(used.sum, [2, 4, 6], 'the entry computes on the adapter');
    assert.ok(
      used.methods >= 10 && used.attacks >= 9,
      `the registries are bundled: ${used.methods} methods, ${used.attacks} attacks`,
    );

    // The declarations: real types (a misuse is an error), WebGPU's globals included.
    writeFileSync(
      join(project, 'use.ts'),
      [
        "import { init, tensor, type Tensor } from 'advfree';",
        'const r = await init();',
        'const device: GPUDevice = r.device;',
        'const t: Tensor = tensor(Float32Array.from([1]), [1]);',
        '// @ts-expect-error: the shape is a list of sizes',
        "tensor(Float32Array.from([1]), 'one');",
        'console.log(device, t);',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['use.ts'],
      }),
    );
    run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: project });

    const help = run(join(project, 'node_modules/.bin/advfree'), ['--help'], { cwd: project });
    assert.match(help, /^advfree: adversarial training on a WebGPU engine\n\nUsage: advfree <command> \[flags\]/);
    for (const cmd of ['train', 'eval', 'show', 'plot', 'experiment', 'bench', 'methods', 'data', 'demo', 'doctor'])
      assert.match(help, new RegExp(`\\n  ${cmd} +\\S`), `--help lists ${cmd}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
