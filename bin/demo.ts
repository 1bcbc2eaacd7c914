// `advfree demo`: a small end-to-end run of the engine that needs no dataset: a WRN-10-1 learns to tell four
// synthetic image classes apart with a few SGD steps, each step one forward and one backward that also yields
// the input gradient, used as free adversarial training does (a signed step on a perturbation).
import { countCorrect, init, rt, shutdown, tensor, tidy, type Tensor } from '../engine/index.js';
import { Free } from '../adversarial/methods/free.js';
import { ThreatModel } from '../adversarial/threat.js';
import { Sgd } from '../nn/optim.js';
import { Harness } from '../train/harness.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { command, intFlag, type FlagSet } from './args.js';

const CLASSES = 4;
const SIZE = 16;

/** Class c brightens channel c % 3 in quadrant c, over uniform noise: learnable, but not in one step. */
function syntheticBatch(n: number, seed: number): { x: Tensor; y: Tensor } {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const x = new Float32Array(n * 3 * SIZE * SIZE);
  const y = new Int32Array(n);
  const half = SIZE / 2;
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * CLASSES);
    y[i] = c;
    for (let ch = 0; ch < 3; ch++) {
      for (let h = 0; h < SIZE; h++) {
        for (let w = 0; w < SIZE; w++) {
          const inQuadrant = h < half === c < 2 && w < half === (c % 2 === 0);
          x[((i * 3 + ch) * SIZE + h) * SIZE + w] = 0.6 * rand() + (inQuadrant && ch === c % 3 ? 0.4 : 0);
        }
      }
    }
  }
  return { x: tensor(x, [n, 3, SIZE, SIZE], { name: 'images' }), y: tensor(y, [n], { name: 'labels' }) };
}

export const demo = command({
  name: 'demo',
  summary: 'train a tiny WideResNet on synthetic images for a few steps (no dataset needed)',
  flags: {
    steps: { type: 'string', help: 'SGD steps', default: '30', parse: intFlag('steps', 1, 10_000) },
    batch: { type: 'string', help: 'batch size', default: '32', parse: intFlag('batch', 2, 1024) },
    seed: {
      type: 'string',
      help: 'seed of the weights and the data',
      default: '0',
      parse: intFlag('seed', 0, 2 ** 31),
    },
  } satisfies FlagSet,
  async run(flags) {
    const r = await init({ backend: flags.backend, adapter: flags.adapter });
    const { steps, batch, seed } = flags;
    console.log(
      `advfree demo on ${r.gpu.name}: WRN-10-1, ${CLASSES} synthetic classes, batch ${batch}, ${steps} steps`,
    );
    const model = new WideResNet(parseArch('wrn-10-1', CLASSES), seed);
    const params = model.namedParameters();
    const opt = new Sgd(params, { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' });
    // Free training with one replay: each step's backward also updates the perturbation, at no extra pass.
    const threat = ThreatModel.image({ norm: 'linf', eps: 2 / 255 }, [3, SIZE, SIZE]);
    const free = new Free({ replays: 1 }, threat, [batch, 3, SIZE, SIZE]);
    const h = new Harness(model, opt, seed, () => 0.05);
    const t0 = performance.now();
    for (let step = 1; step <= steps; step++) {
      const loss = tidy(() => {
        const { x, y } = syntheticBatch(batch, seed * 7919 + step);
        const { loss: value, correct } = h.run(free, x, y);
        correct.dispose();
        return value;
      });
      if (step === 1 || step % 10 === 0 || step === steps)
        console.log(`step ${String(step).padStart(4)}  loss ${(await loss.item()).toFixed(4)}`);
      loss.dispose();
    }
    await rt().sync();
    const seconds = (performance.now() - t0) / 1000;
    model.eval();
    const acc = tidy(() => {
      const { x, y } = syntheticBatch(256, 1e6 + seed);
      return countCorrect(model.forward(x), y);
    });
    console.log(
      `held-out accuracy (BN eval): ${(((await acc.item()) / 256) * 100).toFixed(1)}%  (${(steps / seconds).toFixed(2)} steps/s)`,
    );
    acc.dispose();
    free.dispose();
    threat.dispose();
    opt.dispose();
    model.dispose();
    shutdown();
    return 0;
  },
});
