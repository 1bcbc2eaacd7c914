// `advfree plot` from synthetic metrics.jsonl files of two runs, read back: the Vega-Lite spec holds the files'
// values, the PNG decodes at the SVG's size with its title drawn in the shipped font and each run's colour; no
// overwrite without --force; a damaged metrics file is named with its line. And the image grid of `advfree show`,
// pixel for pixel, with its labels.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { plot } from '../bin/plot.js';
import { fontFiles } from '../plot/font.js';
import { svgToPng } from '../plot/render.js';
import { PALETTE } from '../plot/spec.js';
import { GAP, gridLayout, imageGrid, LABEL_LINE } from '../plot/image-grid.js';
import { darkPixels, pixel, pixelsOf, readChart, rgb } from './chart-files.js';
import { CliError, parseCommand, type FlagsOf } from '../bin/args.js';

const t = suite('plot');

const jsonl = (lines: object[]) => lines.map((l) => JSON.stringify(l)).join('\n') + '\n';

/** free-2 (2 SGD steps per minibatch, 4 minibatches an epoch) and pgd (1 per minibatch). */
function runs(dir: string): string[] {
  const a = join(dir, 'free2');
  const b = join(dir, 'pgd7');
  mkdirSync(a);
  mkdirSync(b);
  writeFileSync(
    join(a, 'metrics.jsonl'),
    jsonl([
      { type: 'step', epoch: 1, step: 2, iteration: 4, lr: 0.1, train_loss: 2.3, train_accuracy: 0.1 },
      {
        type: 'probe',
        epoch: 1,
        step: 2,
        iteration: 4,
        epoch_progress: 0.5,
        grad_cos_after_update: 0.9,
        delta_accuracy: 0.2,
        probe_passes: { forward: 12 },
        probe_seconds: 1,
      },
      { type: 'epoch', epoch: 1, train_loss: 2.0, train_accuracy: 0.2, test_accuracy: 0.25, passes: { forward: 8 } },
      {
        type: 'probe',
        epoch: 2,
        step: 6,
        iteration: 12,
        epoch_progress: 1.5,
        grad_cos_after_update: 0.5,
        delta_accuracy: 0.4,
        probe_passes: { forward: 24 },
        probe_seconds: 2,
      },
      { type: 'epoch', epoch: 2, train_loss: 1.5, train_accuracy: 0.4, test_accuracy: 0.35, passes: { forward: 8 } },
    ]),
  );
  writeFileSync(
    join(b, 'metrics.jsonl'),
    jsonl([
      { type: 'step', epoch: 1, step: 2, iteration: 2, lr: 0.1, train_loss: 2.3, train_accuracy: 0.1 },
      { type: 'epoch', epoch: 1, train_loss: 1.8, train_accuracy: 0.3, test_accuracy: 0.3, robust_accuracy: 0.1 },
      { type: 'epoch', epoch: 2, train_loss: 1.2, train_accuracy: 0.5, test_accuracy: 0.45, robust_accuracy: 0.2 },
    ]),
  );
  return [a, b];
}

const args = (argv: string[]) => parseCommand(plot, argv) as FlagsOf<typeof plot>;
const quiet = async <T>(f: () => Promise<T>): Promise<T> => {
  const log = console.log;
  console.log = () => {};
  try {
    return await f();
  } finally {
    console.log = log;
  }
};

t(
  'draws both runs: the spec holds every value of the metrics files, the PNG decodes at its size with text and run colours',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advfree-plot-'));
    try {
      const out = join(dir, 'p.png');
      assert.is(await quiet(() => plot.run(args([...runs(dir), '--out', out]))), 0);
      const { spec, svg, png } = readChart(out);
      // By hand from the files above: free2 takes 2 SGD steps per minibatch (iteration 4 at step 2), so its epoch e
      // is at x = 2e and a probe at epoch_progress p at x = 2p; pgd7's epoch e is at x = e. Per-epoch values come
      // first, then the probes' (not their passes or seconds), in order of first appearance.
      const rows = (panel: string, run: string, pts: [number, number][]) => pts.map(([x, y]) => ({ panel, run, x, y }));
      assert.equal(spec.data!.values, [
        ...rows('train loss', 'free2', [
          [2, 2.0],
          [4, 1.5],
        ]),
        ...rows('train loss', 'pgd7', [
          [1, 1.8],
          [2, 1.2],
        ]),
        ...rows('train accuracy', 'free2', [
          [2, 0.2],
          [4, 0.4],
        ]),
        ...rows('train accuracy', 'pgd7', [
          [1, 0.3],
          [2, 0.5],
        ]),
        ...rows('test accuracy', 'free2', [
          [2, 0.25],
          [4, 0.35],
        ]),
        ...rows('test accuracy', 'pgd7', [
          [1, 0.3],
          [2, 0.45],
        ]),
        ...rows('robust accuracy', 'pgd7', [
          [1, 0.1],
          [2, 0.2],
        ]),
        ...rows('grad cos after update', 'free2', [
          [1, 0.9],
          [3, 0.5],
        ]),
        ...rows('delta accuracy', 'free2', [
          [1, 0.2],
          [3, 0.4],
        ]),
      ]);
      type Scale = { domain: string[]; range: string[] };
      const s = spec as unknown as { facet: { sort: string[] }; spec: { encoding: { color: { scale: Scale } } } };
      const panels = [
        'train loss',
        'train accuracy',
        'test accuracy',
        'robust accuracy',
        'grad cos after update',
        'delta accuracy',
      ];
      assert.equal(s.facet.sort, panels);
      assert.equal(
        s.spec.encoding.color.scale,
        { domain: ['free2', 'pgd7'], range: PALETTE.slice(0, 2) },
        'one colour per run, in order',
      );
      // Each run's points (filled in its colour) and legend symbol are drawn; no third colour of the palette is.
      assert.ok(
        pixelsOf(png, rgb(PALETTE[0])).length > 50 && pixelsOf(png, rgb(PALETTE[1])).length > 50,
        'both runs drawn',
      );
      assert.is(pixelsOf(png, rgb(PALETTE[2])).length, 0);
      // The title is text (in the SVG) and drawn (dark pixels in the band above the panels, which holds only the
      // title: padding 12 and a 15-pixel title line, at SCALE 2).
      assert.ok(svg.includes('>advfree plot: free2, pgd7</text>'), 'title text in the SVG');
      assert.ok(darkPixels(png, 0, 2 * (12 + 18)) > 300, 'title drawn in the PNG');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

t('text is drawn with the shipped font and no system font: a word renders dark pixels, none without it', () => {
  for (const f of fontFiles())
    assert.match(f, /node_modules[/\\]dejavu-fonts-ttf[/\\]ttf[/\\]DejaVuSans(-Bold)?\.ttf$/);
  const svg = (body: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60">${body}</svg>`;
  const word = svgToPng(svg('<text x="10" y="45" font-family="Helvetica, sans-serif" font-size="40">advfree</text>'));
  const blank = svgToPng(svg(''));
  assert.equal([word.width, word.height], [200, 60]);
  assert.ok(darkPixels(PNG.sync.read(word.png), 0, 60) > 500, 'the word is drawn');
  assert.is(darkPixels(PNG.sync.read(blank.png), 0, 60), 0);
});

t('the image grid: each image replicated pixel for pixel, labels in their colours under it, a drawn title', () => {
  const side = 4;
  const scale = 3;
  const image = (seed: number) =>
    Float32Array.from({ length: 3 * side * side }, (_, k) => ((k * 37 + seed * 11) % 101) / 100);
  const label = (truth: string, pred: string, colour: string) => [
    { text: truth, colour: 'black' },
    { text: `pred: ${pred}`, colour },
  ];
  const rows = [
    [
      { pixels: image(1), lines: label('cat', 'cat', '#008000') },
      { pixels: image(2), lines: [] },
    ],
    [
      { pixels: image(3), lines: [] },
      { pixels: image(4), lines: label('dog', 'frog', '#c80000') },
    ],
  ];
  const title = ['a grid title'];
  const grid = imageGrid(title, rows, side, scale);
  const png = PNG.sync.read(grid.png);
  const at = gridLayout(title, rows, side, scale);
  assert.equal([png.width, png.height, grid.width, grid.height], [at.width, at.height, at.width, at.height]);
  rows.forEach((row, r) =>
    row.forEach((cell, i) => {
      for (let y = 0; y < at.px; y++) {
        for (let x = 0; x < at.px; x++) {
          const s = Math.floor(y / scale) * side + Math.floor(x / scale);
          const want = [0, 1, 2].map((c) => Math.round(255 * cell.pixels[c * side * side + s]));
          assert.equal(pixel(png, at.cellX(i) + x, at.rowY[r] + y), want, `row ${r} image ${i} at (${x}, ${y})`);
        }
      }
    }),
  );
  // Label lines sit under their image: greenish text under the first image of row 0, reddish under the second of
  // row 1, and no label under the others.
  const labelPixels = (r: number, i: number, hue: (p: number[]) => boolean) => {
    let n = 0;
    for (let y = at.rowY[r] + at.px; y < at.rowY[r] + at.px + 2 * LABEL_LINE; y++) {
      for (let x = at.cellX(i); x < at.cellX(i) + at.px + GAP && x < png.width; x++) if (hue(pixel(png, x, y))) n++;
    }
    return n;
  };
  const green = (p: number[]) => p[1] > p[0] + 60 && p[1] > p[2] + 60;
  const red = (p: number[]) => p[0] > p[1] + 60 && p[0] > p[2] + 60;
  assert.ok(labelPixels(0, 0, green) > 10 && labelPixels(0, 0, red) === 0, 'a right prediction in green');
  assert.ok(labelPixels(1, 1, red) > 10 && labelPixels(1, 1, green) === 0, 'a wrong prediction in red');
  assert.ok(
    darkPixels(png, at.rowY[0] + at.px, at.rowY[0] + at.px + LABEL_LINE, at.cellX(0), at.cellX(1)) > 10,
    'the true class in black',
  );
  assert.is(
    darkPixels(png, at.rowY[1] + at.px, at.height, at.cellX(0), at.cellX(1)),
    0,
    'no label under an unlabelled image',
  );
  assert.ok(darkPixels(png, 0, at.rowY[0]) > 50, 'title drawn');
});

t('refuses to overwrite --out without --force; names a missing metrics file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advfree-plot-'));
  try {
    const out = join(dir, 'p.png');
    writeFileSync(out, 'mine');
    const [a] = runs(dir);
    await plot.run(args([a, '--out', out])).then(
      () => assert.unreachable('overwrote'),
      (e) => {
        assert.instance(e, CliError);
        assert.match(e.message, /p\.png exists; pass --force/);
      },
    );
    assert.is(readFileSync(out, 'utf8'), 'mine', 'left untouched');
    assert.is(await quiet(() => plot.run(args([a, '--out', out, '--force']))), 0);
    assert.ok(readChart(out).png.width > 0, 'overwritten with --force');
    // A restyled spec beside a chart is the user's too.
    const other = join(dir, 'other.png');
    writeFileSync(join(dir, 'other.vl.json'), '{"mine": true}');
    await plot.run(args([a, '--out', other])).then(
      () => assert.unreachable('overwrote the spec'),
      (e) => assert.match(e.message, /other\.vl\.json exists; pass --force/),
    );
    assert.is(readFileSync(join(dir, 'other.vl.json'), 'utf8'), '{"mine": true}');
    assert.not.ok(existsSync(other), 'nothing written');
    await plot.run(args([join(dir, 'nope'), '--out', join(dir, 'q.png')])).then(
      () => assert.unreachable(),
      (e) => assert.match(e.message, /nope[/\\]metrics\.jsonl not found/),
    );
    await plot.run(args(['--out', join(dir, 'q.png')])).then(
      () => assert.unreachable(),
      (e) => assert.match(e.message, /give one or more run folders/),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `fn` with console.error collected; returns what it printed. */
async function stderrOf(fn: () => Promise<unknown>): Promise<string[]> {
  const err = console.error;
  const got: string[] = [];
  console.error = (l: string) => got.push(l);
  try {
    await quiet(fn);
  } finally {
    console.error = err;
  }
  return got;
}

t(
  'a null line, a line that is not JSON, or a folder for metrics.jsonl: named with the file and line; a cut last line is skipped with a warning',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advfree-plot-'));
    try {
      const [a, b] = runs(dir);
      const file = join(a, 'metrics.jsonl');
      const whole = readFileSync(file, 'utf8');
      const out = join(dir, 'p.png');
      const refused = (message: string) =>
        plot.run(args([a, '--out', out])).then(
          () => assert.unreachable('drew'),
          (e: Error) => assert.is(e.message, message),
        );
      writeFileSync(file, `${whole}null\n{"type":"epoch","epoch":3}\n`);
      await refused(`plot: ${file} line 6 is null, not a metrics object ({"type": ...})`);
      writeFileSync(file, `${whole}{"type":"epo\n{"type":"epoch","epoch":3}\n`);
      await refused(`plot: ${file} line 6 is not JSON: {"type":"epo`);
      // The last line cut short (no newline): skipped, with a warning naming the file and line.
      writeFileSync(file, `${whole}{"type":"epoch","epo`);
      assert.equal(await stderrOf(() => plot.run(args([a, '--out', out]))), [
        `plot: warning: ${file} line 6 is cut short (20 bytes without a newline: a write interrupted by a kill or a full disk); skipped`,
      ]);
      assert.ok(PNG.sync.read(readFileSync(out)).width > 0, 'drawn from the whole lines');
      rmSync(join(b, 'metrics.jsonl'));
      mkdirSync(join(b, 'metrics.jsonl'));
      await plot.run(args([b, '--out', join(dir, 'q.png')])).then(
        () => assert.unreachable('drew'),
        (e: Error) =>
          assert.is(
            e.message,
            `plot: ${join(b, 'metrics.jsonl')} is a folder, not a metrics file; give run folders written by 'advfree train'`,
          ),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

t.run();
