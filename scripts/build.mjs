// Bundles the library, the CLI and the tests with esbuild; WGSL files are inlined as text.
// `node scripts/build.mjs PATTERN` builds only the test files whose name contains PATTERN (for quick iteration);
// `node scripts/build.mjs --package` only the library and the CLI, as the npm package ships them (npm pack).
// The examples (examples/*.ts, shown in the README and docs) go to dist/examples/.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import './gen-registries.mjs';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  loader: { '.wgsl': 'text' },
  // The examples and the docs' method (tests/fixtures/own-method.ts) import the package by its name, as a user does.
  alias: { advfree: './index.ts' },
  sourcemap: 'inline',
  logLevel: 'warning',
};

const only = process.argv[2];
const pkg = only === '--package';
const tests = readdirSync('tests')
  .filter((f) => f.endsWith('.test.ts') && (!only || f.includes(only)))
  .map((f) => `tests/${f}`);
const examples = readdirSync('examples')
  .filter((f) => f.endsWith('.ts'))
  .map((f) => `examples/${f}`);

await Promise.all([
  ...(pkg ? [] : [build({ ...common, entryPoints: tests, outdir: 'dist/tests', outExtension: { '.js': '.mjs' } })]),
  ...(pkg
    ? []
    : [build({ ...common, entryPoints: examples, outdir: 'dist/examples', outExtension: { '.js': '.mjs' } })]),
  ...(only && !pkg
    ? []
    : [
        build({ ...common, entryPoints: ['index.ts'], outfile: 'dist/index.mjs' }),
        build({
          ...common,
          entryPoints: ['bin/advfree.ts'],
          outfile: 'dist/advfree.mjs',
          banner: { js: '#!/usr/bin/env node' },
        }),
      ]),
]);
