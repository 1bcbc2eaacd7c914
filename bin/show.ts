// `advfree show`: a PNG grid for people who would rather look than read: test images, the perturbation an attack
// found (amplified so that ±eps spans the full range, as stated in the title) and the adversarial images, each
// labelled with the true and the predicted class.
import { init, shutdown } from '../engine/index.js';
import { predict } from '../adversarial/attacks/index.js';
import { uploadRange } from '../data/loader.js';
import { createAttack, describeAttack } from '../adversarial/attack-registry.js';
import { ThreatModel } from '../adversarial/threat.js';
import { imageGrid } from '../plot/image-grid.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { buildCheckpointModel, openCheckpoint } from '../nn/checkpoint-reader.js';
import { defaultDataDir, findDataset, loadDataset } from '../data/index.js';
import { CliError, command, intFlag, type FlagSet } from './args.js';
import { attackSpecs, EVAL_FLAGS } from './eval.js';
import { threatFromFlags } from './threat-flags.js';
import { checkInputFile, checkOutputFile } from './files.js';

export const show = command({
  name: 'show',
  summary: "draw test images, an attack's perturbation and the adversarial images, with labels, into a PNG",
  flags: {
    checkpoint: { type: 'string', help: 'model.safetensors (required)' },
    out: { type: 'string', help: 'PNG file to write (a new file, unless --force)', default: 'grid.png' },
    force: { type: 'boolean', help: 'let --out replace an existing file (never the checkpoint)' },
    count: { type: 'string', help: 'test images to show (the first N)', default: '8', parse: intFlag('count', 1, 64) },
    'data-dir': { type: 'string', help: 'dataset cache folder' },
    ...EVAL_FLAGS,
    attack: { ...EVAL_FLAGS.attack, help: 'the attack (one of fgsm, pgd, apgd-ce)', default: 'pgd' },
  } satisfies FlagSet,
  check: (flags) => void attackSpecs(flags),
  async run(flags) {
    const path = flags.checkpoint;
    if (!path) throw new CliError('show: --checkpoint FILE is required');
    checkInputFile('show', '--checkpoint', path);
    if (attackSpecs(flags).length > 1) throw new CliError('show: give one --attack');
    const out = flags.out;
    const checkOut = () => checkOutputFile('show', '--out', out, { inputs: [path], force: !!flags.force });
    checkOut();
    const ckpt = await openCheckpoint(path);
    for (const w of ckpt.warnings) console.error(`show: ${path}: warning: ${w}`);
    const dataset = findDataset(ckpt.metadata.dataset ?? 'cifar10');
    if (dataset.kind !== 'image')
      throw new CliError(
        `show: ${path} was trained on ${dataset.name}, which is not an image dataset; show draws images`,
      );
    // The dataset's threat model unless --norm and --eps say otherwise; the attack's step sizes follow it.
    const threatSpec = threatFromFlags(flags, dataset);
    const [spec] = attackSpecs(flags, threatSpec);
    const classNames = dataset.classes;
    if (ckpt.model.classes !== classNames.length)
      throw new CliError(`show: ${path} has ${ckpt.model.classes} classes; ${dataset.name} has ${classNames.length}`);
    await init({ backend: flags.backend, adapter: flags.adapter });
    const n = flags.count;
    const { test, box } = await loadDataset(dataset, {
      dataDir: flags['data-dir'] ?? defaultDataDir(),
      log: (m) => console.error(m),
      testLimit: n,
    });
    const [channels, h, w] = test.shape;
    if (h !== w) throw new CliError(`show: ${dataset.name} images are ${h}x${w}; show draws square images`);
    const pixels = channels * h * w;
    const model = buildCheckpointModel(ckpt);
    model.eval();
    const classify = (v: Parameters<typeof model.forward>[0]) => model.forward(v);
    const { x, y } = uploadRange(test, 0, n, 'test');
    const setting = { threat: threatSpec, images: true, classes: classNames.length };
    const threat = new ThreatModel(threatSpec, box);
    const res = await createAttack(spec, { threat, classes: classNames.length, seed: flags.seed, stream: 0 }, setting)(
      classify,
      x,
      y,
    );
    threat.dispose();
    const clean = await predict(classify, x);
    const advPred = await predict(classify, res.adv);
    const xs = await x.data();
    const adv = await res.adv.data();
    const amplify = 0.5 / threatSpec.eps;

    const title = [
      describeAttack(spec, setting),
      `top: test images; middle: 0.5 + ${amplify.toFixed(1)} x perturbation (grey = 0, ±eps = white/black); bottom: adversarial images`,
      'under each: true class, then the prediction (green: right, red: wrong)',
    ];
    const labels = (pred: ArrayLike<number>, i: number) => [
      { text: classNames[test.y[i]], colour: 'black' },
      { text: `pred: ${classNames[pred[i]]}`, colour: pred[i] === test.y[i] ? '#008000' : '#c80000' },
    ];
    // The grid draws RGB: a grey-scale image repeats its one plane.
    const rgb = (v: ArrayLike<number>): ArrayLike<number> =>
      channels === 3 ? v : Float32Array.from({ length: 3 * h * w }, (_, k) => v[k % (h * w)]);
    const cells = [...Array(n).keys()];
    const grid = imageGrid(
      title,
      [
        cells.map((i) => ({ pixels: rgb(xs.subarray(i * pixels, (i + 1) * pixels)), lines: labels(clean, i) })),
        cells.map((i) => ({
          pixels: rgb(
            adv.subarray(i * pixels, (i + 1) * pixels).map((v, k) => 0.5 + amplify * (v - xs[i * pixels + k])),
          ),
          lines: [],
        })),
        cells.map((i) => ({ pixels: rgb(adv.subarray(i * pixels, (i + 1) * pixels)), lines: labels(advPred, i) })),
      ],
      w,
    );
    checkOut();
    await writeFileAtomic(out, grid.png);
    const kept = res.correct.filter(Boolean).length;
    console.log(
      `${out}: ${n} test images, ${kept} still classified correctly under ${describeAttack(spec, setting)}; perturbation amplified ${amplify.toFixed(1)}x`,
    );
    res.adv.dispose();
    model.dispose();
    shutdown();
    return 0;
  },
});
