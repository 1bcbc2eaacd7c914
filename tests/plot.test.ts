// `advfree plot`: a PNG of the expected size from synthetic metrics.jsonl files of two runs, with each run's
// colour where its points are, a legend swatch per run, and no overwrite without --force.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { plot } from '../bin/plot.js';
import { PALETTE } from '../plot/canvas.js';
import { panelArea } from '../plot/line-chart.js';
import { CliError, parseCommand, type Flags } from '../bin/args.js';

const t = suite('plot');

const jsonl = (lines: object[]) => lines.map((l) => JSON.stringify(l)).join('\n') + '\n';

/** free-2 (2 SGD steps per minibatch, 4 minibatches an epoch) and pgd (1 per minibatch). */
function runs(dir: string): string[] {
  const a = join(dir, 'free2');
  const b = join(dir, 'pgd7');
  mkdirSync(a);
  mkdirSync(b);
  writeFileSync(join(a, 'metrics.jsonl'), jsonl([
    { type: 'step', epoch: 1, step: 2, iteration: 4, lr: 0.1, train_loss: 2.3, train_accuracy: 0.1 },
    { type: 'probe', epoch: 1, step: 2, iteration: 4, epoch_progress: 0.5, grad_cos_after_update: 0.9, delta_accuracy: 0.2, probe_passes: { forward: 12 }, probe_seconds: 1 },
    { type: 'epoch', epoch: 1, train_loss: 2.0, train_accuracy: 0.2, test_accuracy: 0.25, passes: { forward: 8 } },
    { type: 'probe', epoch: 2, step: 6, iteration: 12, epoch_progress: 1.5, grad_cos_after_update: 0.5, delta_accuracy: 0.4, probe_passes: { forward: 24 }, probe_seconds: 2 },
    { type: 'epoch', epoch: 2, train_loss: 1.5, train_accuracy: 0.4, test_accuracy: 0.35, passes: { forward: 8 } },
  ]));
  writeFileSync(join(b, 'metrics.jsonl'), jsonl([
    { type: 'step', epoch: 1, step: 2, iteration: 2, lr: 0.1, train_loss: 2.3, train_accuracy: 0.1 },
    { type: 'epoch', epoch: 1, train_loss: 1.8, train_accuracy: 0.3, test_accuracy: 0.3, robust_accuracy: 0.1 },
    { type: 'epoch', epoch: 2, train_loss: 1.2, train_accuracy: 0.5, test_accuracy: 0.45, robust_accuracy: 0.2 },
  ]));
  return [a, b];
}

const args = (argv: string[]): Flags => parseCommand(plot, argv) as Flags;
const quiet = async <T>(f: () => Promise<T>): Promise<T> => {
  const log = console.log;
  console.log = () => {};
  try {
    return await f();
  } finally {
    console.log = log;
  }
};

t('draws both runs: the size of 6 panels in 2 rows, run colours at their points, legend', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advfree-plot-'));
  try {
    const out = join(dir, 'p.png');
    assert.is(await quiet(() => plot.run(args([...runs(dir), '--out', out]))), 0);
    const png = PNG.sync.read(readFileSync(out));
    // Panels: train loss, train accuracy, test accuracy, robust accuracy (pgd7), grad cos after update, delta
    // accuracy (free2). A cell is 54 (y labels: 6 glyphs of 4 font pixels, less 1, times 2, plus 8) + 300 + 16 wide
    // and 16 (title) + 150 + 16 (x labels) + 16 high; 3 columns; margins 16; 2 title lines of 16 and a margin of 16
    // above; one legend row of 10 and a margin of 16 below.
    assert.is(png.width, 16 + 3 * 370);
    assert.is(png.height, 16 + 2 * 16 + 16 + 2 * 198 + 10 + 16);
    const rgb = (x: number, y: number) => {
      const o = 4 * (Math.round(y) * png.width + Math.round(x));
      return [png.data[o], png.data[o + 1], png.data[o + 2]];
    };
    // The shared x axis runs from 0 to 4 natural-equivalent epochs (free2's epoch 2 = 4). Panel 0 (train loss,
    // y from 1.2 to 2.0): free2's epoch 1 (x 2, y 2.0) at the top; pgd7's epoch 2 (x 2, y 1.2) at the bottom.
    const a0 = panelArea(0, 2);
    assert.equal(rgb(a0.x + a0.w / 2, a0.y + 1), PALETTE[0], 'free2 epoch 1 train loss');
    assert.equal(rgb(a0.x + a0.w / 2, a0.y + a0.h - 1), PALETTE[1], 'pgd7 epoch 2 train loss');
    // Panel 4 (grad cos after update, 0.5..0.9; probe panels follow the per-epoch ones): free2's probes at x 1
    // (top) and x 3 (bottom).
    const a4 = panelArea(4, 2);
    assert.equal(rgb(a4.x + a4.w / 4, a4.y + 1), PALETTE[0], 'free2 first probe');
    assert.equal(rgb(a4.x + (3 * a4.w) / 4, a4.y + a4.h - 1), PALETTE[0], 'free2 second probe');
    assert.equal(rgb(a4.x + a4.w / 2, a4.y + 2), [255, 255, 255], 'blank away from the line');
    // Panel 3 (robust accuracy) has pgd7 only.
    const a3 = panelArea(3, 2);
    let colours = new Set<string>();
    for (let y = a3.y + 1; y < a3.y + a3.h; y++) for (let x = a3.x + 1; x < a3.x + a3.w; x++) colours.add(rgb(x, y).join());
    assert.equal([...colours].sort(), [PALETTE[1].join(), '255,255,255'].sort(), 'robust accuracy: pgd7 only');
    // Legend swatches under the panels, in run order.
    const legendY = 16 + 2 * 16 + 16 + 2 * 198 + 5;
    colours = new Set();
    for (let x = 0; x < png.width; x++) colours.add(rgb(x, legendY).join());
    assert.ok(colours.has(PALETTE[0].join()) && colours.has(PALETTE[1].join()), 'both legend swatches');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('refuses to overwrite --out without --force; names a missing metrics file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advfree-plot-'));
  try {
    const out = join(dir, 'p.png');
    writeFileSync(out, 'mine');
    const [a] = runs(dir);
    await plot.run(args([a, '--out', out])).then(() => assert.unreachable('overwrote'), (e) => {
      assert.instance(e, CliError);
      assert.match(e.message, /p\.png exists; pass --force/);
    });
    assert.is(readFileSync(out, 'utf8'), 'mine', 'left untouched');
    assert.is(await quiet(() => plot.run(args([a, '--out', out, '--force']))), 0);
    assert.ok(PNG.sync.read(readFileSync(out)).width > 0, 'overwritten with --force');
    await plot.run(args([join(dir, 'nope'), '--out', join(dir, 'q.png')])).then(() => assert.unreachable(), (e) =>
      assert.match(e.message, /nope[/\\]metrics\.jsonl not found/));
    await plot.run(args(['--out', join(dir, 'q.png')])).then(() => assert.unreachable(), (e) => assert.match(e.message, /give one or more run folders/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
