// The programs the README and docs show are example files, shown verbatim and run here: every fenced block of code
// in README.md and docs/*.md equals an example file (examples/, or the method of tests/fixtures/), every example is
// shown somewhere, and every TypeScript example runs to its end (built by scripts/build.mjs into dist/examples/).
// The Python one is parsed here, and run where PyTorch and safetensors are installed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readSafetensorsFile } from '../nn/safetensors-file.js';

const t = suite('docs');

const DOCS = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const EXAMPLES = [...readdirSync('examples').map((f) => `examples/${f}`), 'tests/fixtures/own-method.ts'];
/** Languages of blocks that are programs (command lines and outputs are not). */
const PROGRAMS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'python', 'py']);

/** The fenced blocks of a markdown file: language, first line number and text (indentation of a list item removed). */
function blocks(file: string): { lang: string; line: number; text: string }[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: { lang: string; line: number; text: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, lang] = open;
    const end = lines.findIndex((l, k) => k > i && l.trimStart().startsWith('```'));
    assert.ok(end > i, `${file} line ${i + 1}: a code block that is never closed`);
    out.push({
      lang,
      line: i + 1,
      text: lines
        .slice(i + 1, end)
        .map((l) => l.slice(indent.length))
        .join('\n'),
    });
    i = end;
  }
  return out;
}

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });

t('every program in the README and docs is an example file, shown verbatim; every example is shown', () => {
  const files = new Map(EXAMPLES.map((f) => [f, readFileSync(f, 'utf8').trimEnd()]));
  const shown = new Set<string>();
  for (const doc of DOCS) {
    for (const b of blocks(doc).filter((x) => PROGRAMS.has(x.lang))) {
      const same = [...files].find(([, text]) => text === b.text.trimEnd());
      assert.ok(
        same,
        `${doc} line ${b.line}: a ${b.lang} block that is no example file; put the program in examples/ and show it verbatim`,
      );
      shown.add(same![0]);
    }
  }
  assert.equal(
    EXAMPLES.filter((f) => !shown.has(f)),
    [],
    'examples no document shows',
  );
});

t('every relative link in the README and docs names a file or folder that exists', () => {
  for (const doc of DOCS) {
    const text = readFileSync(doc, 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(dirname(doc), target)), `${doc}: the link ${target} names nothing`);
    }
  }
});

t('every TypeScript example runs to its end', () => {
  for (const f of EXAMPLES.filter((x) => x.startsWith('examples/') && x.endsWith('.ts'))) {
    const r = run(process.execPath, [join('dist', f.replace(/\.ts$/, '.mjs'))]);
    assert.is(r.status, 0, `${f} exited ${r.status}: ${r.stderr}`);
    assert.ok(r.stdout.trim().length > 0, `${f} printed nothing`);
  }
  const lib = run(process.execPath, ['dist/examples/library.mjs']).stdout.trim().split('\n');
  assert.equal(
    lib.map((l) => l.replace(/loss \d+\.\d{4}/, 'loss L')),
    [1, 2, 3].map((s) => `step ${s}: loss L on the perturbed batch`),
  );
  assert.ok(
    lib.every((l) => Number.isFinite(Number(/loss (\S+)/.exec(l)![1]))),
    'finite losses',
  );
});

t('the Python example parses, and converts a TRADES-style checkpoint where PyTorch is installed', async () => {
  const py = 'examples/trades-to-safetensors.py';
  const python = run('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', py]);
  if (python.error) {
    console.log(`  (no python3: ${py} not checked)`);
    return;
  }
  assert.is(python.status, 0, `${py} does not parse: ${python.stderr}`);
  if (run('python3', ['-c', 'import torch, safetensors']).status !== 0) {
    console.log(`  (no torch and safetensors for python3: ${py} parsed, not run)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'advfree-convert-'));
  try {
    const [src, out] = [join(dir, 'in.pt'), join(dir, 'out.safetensors')];
    const make =
      "import sys, torch; torch.save({'state_dict': {'module.fc.weight': torch.ones(2, 3, dtype=torch.float64), 'module.sub_block1.x': torch.ones(1), 'module.bn1.num_batches_tracked': torch.tensor(5)}}, sys.argv[1])";
    assert.is(run('python3', ['-c', make, src]).status, 0, 'a checkpoint written');
    const r = run('python3', [py, src, out]);
    assert.is(r.status, 0, `${py}: ${r.stderr}`);
    const { tensors } = await readSafetensorsFile(out);
    assert.equal(
      Object.keys(tensors).sort(),
      ['bn1.num_batches_tracked', 'fc.weight'],
      "the prefix stripped, TRADES' extra group dropped",
    );
    assert.equal([tensors['fc.weight'].dtype, tensors['bn1.num_batches_tracked'].dtype], ['F32', 'I64']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
