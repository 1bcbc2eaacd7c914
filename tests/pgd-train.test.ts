// K-PGD and FGSM-RS training steps: pass counts, no weight-gradient kernel in attack steps, the update batch inside
// the eps ball and [0,1], BN running statistics touched only by the update step; and robust evaluation leaves
// every BN statistic unchanged.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rt, tensor, type Tensor } from '../engine/index.js';
import { resolveAttack } from '../adversarial/attack-registry.js';
import { evaluateRobust, inEvalMode, splitSource } from '../adversarial/evaluate.js';
import { noPasses, type Method } from '../adversarial/method.js';
import { createMethod, resolveMethod } from '../adversarial/registry.js';
import { Sgd } from '../nn/optim.js';
import { Harness } from '../train/harness.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { imageThreat, randu, ready } from './helpers.js';

const t = suite('pgd-train');
t.before(ready);

const [B, C, H, W] = [4, 3, 8, 8];
const EPS = 8 / 255;
const xs = randu(B * C * H * W, 11);
const ys = Int32Array.from([3, 1, 4, 1]);

function setup() {
  const model = new WideResNet(parseArch('wrn-10-1', 10), 5);
  const params = model.namedParameters();
  const opt = new Sgd(params, { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' });
  const h = new Harness(model, opt, 1, () => 0.05);
  return { model, h, dispose: () => (opt.dispose(), model.dispose()) };
}

const THREAT = imageThreat([C, H, W], EPS);
const env = { batchShape: [B, C, H, W], threat: THREAT, seed: 1, trainSize: B, classes: 10 };
const make = (config: { name: string } & Record<string, unknown>): Method =>
  createMethod(resolveMethod(config, THREAT.spec), env);
const pgd = (steps: number, attackBn: 'train' | 'eval' = 'train') =>
  make({ name: 'pgd', stepSize: 2 / 255, steps, attackBn });

/** Runs one step and returns dispatches per family, the model inputs seen and the step's passes. */
async function runStep(method: Method, labels = ys) {
  const s = setup();
  const x = tensor(Float32Array.from(xs), [B, C, H, W], { name: 'x' });
  const y = tensor(labels, [B], { name: 'y' });
  const inputs: Promise<Float32Array>[] = [];
  const outputs: Promise<Float32Array>[] = [];
  const forward = s.model.forward.bind(s.model);
  s.model.forward = (v: Tensor) => {
    inputs.push(v.data());
    const z = forward(v);
    outputs.push(z.data());
    return z;
  };
  rt().resetCounters();
  const r = s.h.run(method, x, y);
  const families = rt().counters().byFamily;
  await r.loss.item();
  const bnTracked = s.model
    .modules()
    .flatMap((m) => ('batchesTracked' in m ? [(m as { batchesTracked: bigint }).batchesTracked] : []));
  const seen = await Promise.all(inputs);
  const logits = await Promise.all(outputs);
  for (const v of [r.loss, r.correct, x, y]) v.dispose();
  s.dispose();
  return { families, seen, logits, passes: s.h.meter.passes, bnTracked };
}

t('7-PGD: 7 input-only attack passes, one weight backward, one SGD step', async () => {
  const natural = await runStep(make({ name: 'natural' }));
  const adv = await runStep(pgd(7));
  assert.equal(adv.passes, { ...noPasses(), forward: 8, backwardWeights: 1, backwardInputOnly: 7, sgdSteps: 1 });
  // Weight-gradient kernels: exactly those of the one update backward, as in a natural step.
  assert.is(adv.families['conv-weight-grad'], natural.families['conv-weight-grad']);
  assert.is(adv.families['weight-grad'], natural.families['weight-grad']);
  assert.is(adv.families.optimizer, natural.families.optimizer);
  // Attack steps still backpropagate into the input: 7 more rounds of input-gradient convolutions.
  assert.ok(
    adv.families['conv-input-grad']! > natural.families['conv-input-grad']!,
    'attack steps ran input-gradient kernels',
  );
  // BN running statistics move once per SGD step, not in attack steps.
  assert.ok(
    adv.bnTracked.every((v) => v === 1n),
    `num_batches_tracked ${adv.bnTracked.join(',')}`,
  );
});

t('the attacked batches stay inside the eps ball and [0,1]; FGSM-RS takes one attack step', async () => {
  for (const [method, steps] of [
    [pgd(5), 5],
    [make({ name: 'fgsm-rs', attackBn: 'eval' }), 1],
  ] as const) {
    const r = await runStep(method);
    assert.is(r.seen.length, steps + 1);
    for (const v of r.seen) {
      assert.ok(
        v.every((p, i) => p >= 0 && p <= 1 && Math.abs(p - xs[i]) <= EPS + 1e-6),
        'inside the ball and the image range',
      );
    }
    const moved = r.seen.at(-1)!.filter((p, i) => Math.abs(p - xs[i]) > EPS / 2).length;
    assert.ok(
      moved > xs.length / 4,
      `the update batch is perturbed (${moved} of ${xs.length} pixels moved by > eps/2)`,
    );
  }
});

t('PGD --only-correct: an example misclassified at an attack step keeps its point, the others step on', async () => {
  // Labelled with the untrained model's own predictions, so that examples start correct and the attack flips some.
  const s = setup();
  const x = tensor(Float32Array.from(xs), [B, C, H, W], { name: 'x' });
  const clean = s.model.forward(x);
  const z0 = await clean.data();
  for (const v of [clean, x]) v.dispose();
  s.dispose();
  const labels = Int32Array.from({ length: B }, (_, i) => {
    const z = Array.from(z0.subarray(i * 10, i * 10 + 10));
    return z.indexOf(Math.max(...z));
  });
  const steps = 4;
  const r = await runStep(make({ name: 'pgd', stepSize: 2 / 255, steps, onlyCorrect: true }), labels);
  const n = C * H * W;
  let [kept, moved] = [0, 0];
  for (let k = 0; k < steps; k++) {
    for (let i = 0; i < B; i++) {
      const z = Array.from(r.logits[k].subarray(i * 10, i * 10 + 10));
      const wrong = z.indexOf(Math.max(...z)) !== labels[i];
      // Kept up to rounding: the projection recomputes x + (point − x).
      const same = r.seen[k + 1]
        .subarray(i * n, (i + 1) * n)
        .every((v, j) => Math.abs(v - r.seen[k][i * n + j]) < 1e-6);
      assert.is(same, wrong, `step ${k}, example ${i}: ${wrong ? 'misclassified, kept' : 'correct, stepped'}`);
      if (wrong) kept++;
      else moved++;
    }
  }
  assert.ok(kept > 0 && moved > 0, `both cases occur (${kept} kept, ${moved} stepped)`);
});

t('robust evaluation leaves BN statistics unchanged', async () => {
  const s = setup();
  const stats = s.model.namedBuffers().flatMap(([, b]) => ('tensor' in b ? [b.tensor] : []));
  const before = await Promise.all(stats.map((v) => v.data()));
  const n = 6;
  const data = {
    x: Uint8Array.from(randu(n * 3072, 3), (v) => Math.floor(v * 256)),
    y: Int32Array.from([0, 1, 2, 3, 4, 5]),
    count: n,
    classes: 10,
    shape: [3, 32, 32],
  };
  const attack = resolveAttack({ name: 'pgd', steps: 3, stepSize: 2 / 255, restarts: 2, loss: 'ce' }, THREAT.spec);
  const cifar = imageThreat([3, 32, 32], EPS);
  const rep = await inEvalMode(s.model, (classify) =>
    evaluateRobust(classify, splitSource(data), [attack], { threat: cifar, classes: 10, batch: 4, seed: 0 }),
  );
  const after = await Promise.all(stats.map((v) => v.data()));
  before.forEach((b, i) => assert.equal(Array.from(after[i]), Array.from(b), `BN buffer ${i}`));
  assert.ok(s.model.training, 'the model is back in training mode');
  assert.is(rep.examples, n);
  assert.ok(rep.robustCorrect <= rep.attacks[0].correct && rep.attacks[0].correct <= n);
  s.dispose();
});

t.run();
