// Bundles the library, the CLI and the tests with esbuild; WGSL files are inlined as text.
// `node scripts/build.mjs PATTERN` builds only the test files whose name contains PATTERN (for quick iteration);
// `node scripts/build.mjs --package` only the library and the CLI, as the npm package ships them (npm pack).
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
  sourcemap: 'inline',
  logLevel: 'warning',
};

const only = process.argv[2];
const pkg = only === '--package';
const tests = readdirSync('tests')
  .filter((f) => f.endsWith('.test.ts') && (!only || f.includes(only)))
  .map((f) => `tests/${f}`);

await Promise.all([
  ...(pkg ? [] : [build({ ...common, entryPoints: tests, outdir: 'dist/tests', outExtension: { '.js': '.mjs' } })]),
  ...(only && !pkg
    ? []
    : [
        build({ ...common, entryPoints: ['index.ts'], outfile: 'dist/index.mjs' }),
        build({ ...common, entryPoints: ['bin/advfree.ts'], outfile: 'dist/advfree.mjs', banner: { js: '#!/usr/bin/env node' } }),
      ]),
]);
