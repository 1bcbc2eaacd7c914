// `advfree show`: a PNG grid for people who would rather look than read: test images, the perturbation an attack
// found (amplified so that ±eps spans the full range, as stated in the title) and the adversarial images, each
// labelled with the true and the predicted class.
import { PNG } from 'pngjs';
import { init, shutdown } from '../engine/index.js';
import { predict } from '../adversarial/attacks/index.js';
import { uploadRange } from '../data/loader.js';
import { describeAttack, makeAttack } from '../adversarial/evaluate.js';
import { GLYPH_H, rasterize } from '../plot/font.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { buildCheckpointModel, openCheckpoint } from '../nn/checkpoint-reader.js';
import { defaultDataDir, findDataset, loadDataset } from '../data/index.js';
import { CliError, intFlag, type Command } from './args.js';
import { attackSpecs, EVAL_FLAGS } from './eval.js';
import { checkInputFile, checkOutputFile } from './files.js';

const SCALE = 3;
const GAP = 6;
const TEXT = 2 * (GLYPH_H + 2) * 2;

export const show: Command = {
  name: 'show',
  summary: 'draw test images, an attack\'s perturbation and the adversarial images, with labels, into a PNG',
  flags: {
    checkpoint: { type: 'string', help: 'model.safetensors (required)' },
    out: { type: 'string', help: 'PNG file to write (a new file, unless --force)', default: 'grid.png' },
    force: { type: 'boolean', help: 'let --out replace an existing file (never the checkpoint)' },
    count: { type: 'string', help: 'test images to show (the first N)', default: '8', check: intFlag('count', 1, 64) },
    'data-dir': { type: 'string', help: 'dataset cache folder' },
    ...EVAL_FLAGS,
    attack: { ...EVAL_FLAGS.attack, help: 'the attack (one of fgsm, pgd, apgd-ce)', default: 'pgd' },
  },
  async run(flags) {
    const path = flags.checkpoint as string | undefined;
    if (!path) throw new CliError('show: --checkpoint FILE is required');
    checkInputFile('show', '--checkpoint', path);
    const [spec, ...more] = attackSpecs(flags);
    if (more.length) throw new CliError('show: give one --attack');
    const out = flags.out as string;
    const checkOut = () => checkOutputFile('show', '--out', out, { inputs: [path], force: !!flags.force });
    checkOut();
    const ckpt = await openCheckpoint(path);
    for (const w of ckpt.warnings) console.error(`show: ${path}: warning: ${w}`);
    const dataset = findDataset(ckpt.metadata.dataset ?? 'cifar10');
    if (dataset.kind !== 'image') throw new CliError(`show: ${path} was trained on ${dataset.name}, which is not an image dataset; show draws images`);
    const classNames = dataset.classes;
    if (ckpt.model.classes !== classNames.length) throw new CliError(`show: ${path} has ${ckpt.model.classes} classes; ${dataset.name} has ${classNames.length}`);
    await init({ backend: flags.backend as string | undefined, adapter: flags.adapter as string | undefined });
    const n = Number(flags.count);
    const { test } = await loadDataset(dataset, { dataDir: (flags['data-dir'] as string | undefined) ?? defaultDataDir(), log: (m) => console.error(m), testLimit: n });
    const [channels, h, w] = test.shape;
    const side = w * SCALE;
    const pixels = channels * h * w;
    const model = buildCheckpointModel(ckpt);
    model.eval();
    const classify = (v: Parameters<typeof model.forward>[0]) => model.forward(v);
    const { x, y } = uploadRange(test, 0, n, 'test');
    const res = await makeAttack(spec, Number(flags.seed), 0)(classify, x, y);
    const clean = await predict(classify, x);
    const advPred = await predict(classify, res.adv);
    const xs = await x.data();
    const adv = await res.adv.data();
    const amplify = 0.5 / spec.eps;

    const width = n * (side + GAP) + GAP;
    const title = [`${describeAttack(spec)}`, `middle row: 0.5 + ${amplify.toFixed(1)} x perturbation (grey = 0, +-eps = white/black)`];
    const top = GAP + title.length * (GLYPH_H + 2) * 2;
    const rowH = h * SCALE + TEXT + GAP;
    const png = new PNG({ width, height: top + 3 * rowH });
    png.data.fill(255);
    const put = (px: number, py: number, rgb: readonly number[]) => {
      const o = (py * width + px) * 4;
      png.data[o] = rgb[0];
      png.data[o + 1] = rgb[1];
      png.data[o + 2] = rgb[2];
    };
    const text = (s: string, x0: number, y0: number, rgb: readonly number[]) =>
      rasterize(s, (gx, gy) => {
        for (let d = 0; d < 4; d++) put(x0 + gx * 2 + (d & 1), y0 + gy * 2 + (d >> 1), rgb);
      });
    title.forEach((line, i) => text(line, GAP, GAP + i * (GLYPH_H + 2) * 2, [0, 0, 0]));
    const rows = [
      (i: number) => xs.subarray(i * pixels, (i + 1) * pixels),
      (i: number) => adv.subarray(i * pixels, (i + 1) * pixels).map((v, k) => 0.5 + amplify * (v - xs[i * pixels + k])),
      (i: number) => adv.subarray(i * pixels, (i + 1) * pixels),
    ];
    // Grey-scale images repeat their one plane in red, green and blue.
    const plane = (c: number) => (channels === 1 ? 0 : c) * h * w;
    for (let i = 0; i < n; i++) {
      const x0 = GAP + i * (side + GAP);
      rows.forEach((pixels, r) => {
        const img = pixels(i);
        const y0 = top + r * rowH;
        for (let py = 0; py < h * SCALE; py++) {
          for (let px = 0; px < side; px++) {
            const s = Math.floor(py / SCALE) * w + Math.floor(px / SCALE);
            put(x0 + px, y0 + py, [0, 1, 2].map((c) => Math.round(255 * Math.min(1, Math.max(0, img[plane(c) + s])))));
          }
        }
        const label = classNames[test.y[i]];
        const below = y0 + h * SCALE + 2;
        if (r === 0) {
          text(label, x0, below, [0, 0, 0]);
          text(`p:${classNames[clean[i]]}`, x0, below + (GLYPH_H + 2) * 2, clean[i] === test.y[i] ? [0, 128, 0] : [200, 0, 0]);
        } else if (r === 2) {
          text(label, x0, below, [0, 0, 0]);
          text(`p:${classNames[advPred[i]]}`, x0, below + (GLYPH_H + 2) * 2, advPred[i] === test.y[i] ? [0, 128, 0] : [200, 0, 0]);
        }
      });
    }
    checkOut();
    await writeFileAtomic(out, PNG.sync.write(png));
    const kept = res.correct.filter(Boolean).length;
    console.log(`${out}: ${n} test images, ${kept} still classified correctly under ${describeAttack(spec)}; perturbation amplified ${amplify.toFixed(1)}x`);
    res.adv.dispose();
    model.dispose();
    shutdown();
    return 0;
  },
};
