// TRADES: the KL attack (BN eval) and the CE + beta·KL update (BN train, gradients through both branches) checked by
// value against a host re-implementation that runs the model op by op and updates x' in float64, over two
// minibatches (so momentum and BN running statistics carry over); its options and flags as declared.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  add,
  countCorrect,
  keep,
  randomNormal,
  scale,
  softmaxCrossEntropy,
  softmaxKl,
  tensor,
  valueAndGrads,
  type Tensor,
} from '../engine/index.js';
import { noPasses } from '../adversarial/method.js';
import { createMethod, parseShortForm, resolveMethod } from '../adversarial/registry.js';
import { methodFromFlags } from '../bin/method-flags.js';
import { train } from '../bin/train.js';
import { parseCommand, type FlagsOf } from '../bin/args.js';
import { Harness } from '../train/harness.js';
import { freezeBatchNorm } from '../nn/layers.js';
import { assertClose, assertThrows, imageThreat, ready } from './helpers.js';
import { assertSameState, B, batch, clamp01, recordInputs, SHAPE, twin, upload } from './method-twin.js';

const t = suite('trades');
t.before(ready);

// Three steps of 0.02 reach 0.06 > eps, so the projection onto the ball binds; steps this large give a KL term
// big enough that dropping the clean branch's gradient would show in the weights.
const EPS = 0.05;
const O = { steps: 3, stepSize: 0.02, beta: 6 };
const SEED = 5;

async function maxGap(a: Tensor[], b: Tensor[]): Promise<number> {
  let gap = 0;
  for (const [k, g] of a.entries()) {
    const [u, v] = [await g.data(), await b[k].data()];
    for (let i = 0; i < u.length; i++) gap = Math.max(gap, Math.abs(u[i] - v[i]));
  }
  return gap;
}
const LR = 0.05;

t("the attack and the update match a host re-implementation; x' stays in the eps ball and [0, 1]", async () => {
  const a = twin();
  const b = twin();
  const seen = recordInputs(a.model);
  const threat = imageThreat(SHAPE.slice(1), EPS);
  const method = createMethod(resolveMethod({ name: 'trades', ...O }, threat.spec), {
    batchShape: SHAPE,
    threat,
    seed: SEED,
    trainSize: 2 * B,
    classes: 10,
  });
  const h = new Harness(a.model, a.opt, SEED, () => LR);
  for (const s of [0, 1]) {
    const { x: xs, y: ys } = batch(s + 1);
    const x = upload(xs, 'x');
    const y = tensor(ys, [B], { name: 'y' });
    const r = h.run(method, x, y);
    const [loss, correct] = [await r.loss.item(), await r.correct.item()];
    r.loss.dispose();
    r.correct.dispose();

    // The reference: x' from x + 0.001·N(0,1) (the same counter-based draw), K steps in float64 on the host,
    // each step's gradient of the summed KL against the eval-mode clean logits.
    b.model.eval();
    const clean = b.model.forward(x);
    const noise = randomNormal(SHAPE, 0, 0.001, SEED, s);
    const nz = await noise.data();
    noise.dispose();
    let adv = Float64Array.from(xs, (v, i) => v + nz[i]);
    const path = [adv];
    for (let k = 0; k < O.steps; k++) {
      const xa = upload(adv, 'xa');
      const { value, grads } = valueAndGrads(() => softmaxKl(clean, b.model.forward(xa), { reduction: 'sum' }), [xa]);
      const g = await grads[0].data();
      adv = adv.map((v, i) => clamp01(Math.min(xs[i] + EPS, Math.max(xs[i] - EPS, v + O.stepSize * Math.sign(g[i])))));
      path.push(adv);
      for (const v of [xa, value, ...grads]) v.dispose();
    }
    clean.dispose();
    b.model.train();
    const xa = upload(adv, 'xadv');
    let hits: Tensor | null = null;
    const { value, grads } = valueAndGrads(() => {
      const logits = b.model.forward(x);
      hits = keep(countCorrect(logits, y));
      return add(softmaxCrossEntropy(logits, y), scale(softmaxKl(logits, b.model.forward(xa)), O.beta));
    }, b.weights());
    // The clean branch's share of the KL gradient is big enough here that the weight comparison below would catch a
    // detached f(x): the gradient with f(x) held constant in the KL term (BN frozen: same logits, statistics kept).
    freezeBatchNorm(b.model, true);
    const p = b.model.forward(x);
    const detached = valueAndGrads(
      () => add(softmaxCrossEntropy(b.model.forward(x), y), scale(softmaxKl(p, b.model.forward(xa)), O.beta)),
      b.weights(),
    );
    freezeBatchNorm(b.model, false);
    const gap = await maxGap(grads, detached.grads);
    assert.ok(LR * gap > 1e-4, `the clean branch moves some weight by ${LR * gap} in one step`);
    for (const v of [p, detached.value, ...detached.grads]) v.dispose();
    b.opt.step(grads, LR);
    assertClose([loss], [await value.item()], `loss of minibatch ${s + 1}`, 1e-5, 1e-6);
    assert.is(correct, await hits!.item(), 'correct counts the clean logits');
    for (const v of [xa, value, hits!, ...grads]) v.dispose();

    // The method's model saw: x (eval, the cached clean logits), x'_0 .. x'_{K-1}, then x and x'_K (train).
    const inputs = await Promise.all(seen.splice(0));
    assert.is(inputs.length, O.steps + 3);
    assertClose(inputs[0], xs, 'the clean eval forward sees x', 0, 0);
    for (let k = 0; k < O.steps; k++) assertClose(inputs[1 + k], path[k], `attack step ${k + 1}'s input`, 0, 1e-6);
    assertClose(inputs[O.steps + 1], xs, 'the clean training forward sees x', 0, 0);
    const final = inputs[O.steps + 2];
    assertClose(final, path[O.steps], "x' of the update", 0, 1e-6);
    assert.ok(
      final.every((v, i) => v >= 0 && v <= 1 && Math.abs(v - xs[i]) <= EPS + 1e-6),
      "x' inside the eps ball and [0, 1]",
    );
    assert.ok(
      final.some((v, i) => Math.abs(Math.abs(v - xs[i]) - EPS) < 1e-6),
      'the projection onto the ball binds somewhere',
    );
    assert.ok(
      final.some((v, i) => (v === 0 || v === 1) && v !== xs[i]),
      'the [0, 1] clamp binds somewhere',
    );
    await assertSameState(a.model, b.model, `after minibatch ${s + 1}`);
    x.dispose();
    y.dispose();
  }
  assert.equal(h.meter.passes, {
    ...noPasses(),
    forward: 2 * (O.steps + 3),
    backwardInputOnly: 2 * O.steps,
    backwardWeights: 2,
    sgdSteps: 2,
  });
  method.dispose?.();
  a.dispose();
  b.dispose();
});

t("options: the code's defaults, the short form trades-K, and flags accepted and refused with their range", () => {
  // eps is the run's threat model's (default 8/255; the code's 0.031 is --eps 0.031), not an option of the method.
  assert.equal(resolveMethod({ name: 'trades' }).options, { steps: 10, stepSize: 0.007, beta: 6 });
  assert.equal(parseShortForm('trades-5').options, { steps: 5, stepSize: 0.007, beta: 6 });
  const parse = (...argv: string[]) => methodFromFlags(parseCommand(train, argv) as FlagsOf<typeof train>);
  assert.equal(parse('--method', 'trades', '--beta', '1', '--eps', '8/255', '--steps', '7').config, {
    name: 'trades',
    steps: 7,
    stepSize: 0.007,
    beta: 1,
  });
  assert.is(parse('--method', 'trades', '--beta', '0').options.beta, 0, 'beta 0 (no KL term) is allowed');
  assertThrows(() => parse('--method', 'trades', '--beta', '-1'), /--beta must be a number in \[0, 1000\], got -1/);
  assertThrows(() => parse('--method', 'trades', '--steps', '0'), /--steps must be an integer in \[1, 1000\], got 0/);
  assertThrows(() => parse('--method', 'pgd', '--beta', '6'), /--beta is not an option of method pgd/);
});

t.run();
