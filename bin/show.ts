// `advfree show`: a PNG grid for people who would rather look than read: test images, the perturbation an attack
// found (amplified so that ±eps spans the full range, as stated in the title) and the adversarial images, each
// labelled with the true and the predicted class.
import { init, shutdown } from '../engine/index.js';
import { predict } from '../adversarial/attacks/index.js';
import { uploadRange } from '../data/loader.js';
import { describeAttack, makeAttack } from '../adversarial/evaluate.js';
import { imageGrid } from '../plot/image-grid.js';
import { writeFileAtomic } from '../nn/atomic.js';
import { loadCheckpoint, openCheckpoint } from '../nn/checkpoint-reader.js';
import { defaultDataDir, ensureDataset, loadSplit } from '../data/cifar.js';
import { WideResNet } from '../nn/wrn.js';
import { CliError, intFlag, type Command } from './args.js';
import { attackSpecs, EVAL_FLAGS } from './eval.js';
import { checkInputFile, checkOutputFile } from './files.js';

const CIFAR10 = ['plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

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
    const meta = ckpt.metadata;
    if (meta.dataset && meta.dataset !== 'cifar10') throw new CliError(`show: ${path} was trained on ${meta.dataset}; show draws CIFAR-10`);
    if (ckpt.config.classes !== CIFAR10.length) throw new CliError(`show: ${path} has ${ckpt.config.classes} classes; show draws CIFAR-10's ${CIFAR10.length}`);
    await init({ backend: flags.backend as string | undefined, adapter: flags.adapter as string | undefined });
    const n = Number(flags.count);
    const test = loadSplit(await ensureDataset('cifar10', { dataDir: (flags['data-dir'] as string | undefined) ?? defaultDataDir(), log: (m) => console.error(m) }), 'cifar10', 'test', n);
    const model = new WideResNet(ckpt.config);
    loadCheckpoint(model, ckpt);
    model.eval();
    const classify = (v: Parameters<typeof model.forward>[0]) => model.forward(v);
    const { images: x, labels: y } = uploadRange(test, 0, n, 'test');
    const res = await makeAttack(spec, Number(flags.seed), 0)(classify, x, y);
    const clean = await predict(classify, x);
    const advPred = await predict(classify, res.adv);
    const xs = await x.data();
    const adv = await res.adv.data();
    const amplify = 0.5 / spec.eps;

    const title = [
      describeAttack(spec),
      `top: test images; middle: 0.5 + ${amplify.toFixed(1)} x perturbation (grey = 0, ±eps = white/black); bottom: adversarial images`,
      'under each: true class, then the prediction (green: right, red: wrong)',
    ];
    const labels = (pred: ArrayLike<number>, i: number) => [
      { text: CIFAR10[test.labels[i]], colour: 'black' },
      { text: `pred: ${CIFAR10[pred[i]]}`, colour: pred[i] === test.labels[i] ? '#008000' : '#c80000' },
    ];
    const cells = [...Array(n).keys()];
    const grid = imageGrid(title, [
      cells.map((i) => ({ pixels: xs.subarray(i * 3072, (i + 1) * 3072), lines: labels(clean, i) })),
      cells.map((i) => ({
        pixels: adv.subarray(i * 3072, (i + 1) * 3072).map((v, k) => 0.5 + amplify * (v - xs[i * 3072 + k])),
        lines: [],
      })),
      cells.map((i) => ({ pixels: adv.subarray(i * 3072, (i + 1) * 3072), lines: labels(advPred, i) })),
    ], 32);
    checkOut();
    await writeFileAtomic(out, grid.png);
    const kept = res.correct.filter(Boolean).length;
    console.log(`${out}: ${n} test images, ${kept} still classified correctly under ${describeAttack(spec)}; perturbation amplified ${amplify.toFixed(1)}x`);
    res.adv.dispose();
    model.dispose();
    shutdown();
    return 0;
  },
};
