// N-FGSM: noise, one unprojected FGSM step and the update, checked by value against a host re-implementation (the
// model run op by op in training mode, the perturbation in float64) over two minibatches, including the BN running
// statistics that both forward passes update as the code's train mode does; its options and flags as declared.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUniform, softmaxCrossEntropy, tensor, valueAndGrads } from '../engine/index.js';
import { noPasses } from '../adversarial/method.js';
import { createMethod, parseShortForm, resolveMethod } from '../adversarial/registry.js';
import { methodFromFlags } from '../bin/method-flags.js';
import { train } from '../bin/train.js';
import { parseCommand, type FlagsOf } from '../bin/args.js';
import { Harness } from '../train/harness.js';
import { threatFromFlags } from '../bin/threat-flags.js';
import { assertClose, assertThrows, imageThreat, ready } from './helpers.js';
import { assertSameState, B, batch, clamp01, recordInputs, SHAPE, twin, upload } from './method-twin.js';

const t = suite('nfgsm');
t.before(ready);

const EPS = 8 / 255;
const O = { noise: 2, stepSize: 8 / 255 };
const SEED = 9;
const LR = 0.05;

t(
  'noise, the unprojected step and the update match a host re-implementation; x + delta leaves the ball, never [0, 1]',
  async () => {
    const a = twin();
    const b = twin();
    const seen = recordInputs(a.model);
    const threat = imageThreat(SHAPE.slice(1), EPS);
    const method = createMethod(resolveMethod({ name: 'nfgsm', ...O }), {
      batchShape: SHAPE,
      threat,
      seed: SEED,
      trainSize: 2 * B,
      classes: 10,
    });
    const h = new Harness(a.model, a.opt, SEED, () => LR);
    const k = O.noise * EPS;
    for (const s of [0, 1]) {
      const { x: xs, y: ys } = batch(s + 11);
      const x = upload(xs, 'x');
      const y = tensor(ys, [B], { name: 'y' });
      const r = h.run(method, x, y);
      const loss = await r.loss.item();
      r.loss.dispose();
      r.correct.dispose();

      // The reference, as train.py: eta ~ U(-k·eps, k·eps) (the same counter-based draw), x + eta clamped to [0, 1];
      // the gradient of the mean CE there (BN train mode, running statistics updated); one signed step of alpha,
      // clamped to [0, 1] only; then the update on CE at that point.
      const u = randomUniform(SHAPE, -k, k, SEED, s);
      const eta = await u.data();
      u.dispose();
      const start = Float64Array.from(xs, (v, i) => clamp01(v + eta[i]));
      const x0 = upload(start, 'x0');
      const attack = valueAndGrads(() => softmaxCrossEntropy(b.model.forward(x0), y), [x0]);
      const g = await attack.grads[0].data();
      const adv = start.map((v, i) => clamp01(v + O.stepSize * Math.sign(g[i])));
      const xa = upload(adv, 'xadv');
      const { value, grads } = valueAndGrads(() => softmaxCrossEntropy(b.model.forward(xa), y), b.weights());
      b.opt.step(grads, LR);
      assertClose([loss], [await value.item()], `loss of minibatch ${s + 1}`, 1e-5, 1e-6);
      for (const v of [x0, xa, attack.value, value, ...attack.grads, ...grads]) v.dispose();

      const [seenStart, seenAdv, ...rest] = await Promise.all(seen.splice(0));
      assert.is(rest.length, 0, 'two forward passes');
      assertClose(seenStart, start, 'the attacked point x + eta', 0, 1e-6);
      assertClose(seenAdv, adv, 'the update batch x + delta', 0, 1e-6);
      assert.ok(
        seenAdv.every((v, i) => v >= 0 && v <= 1 && Math.abs(v - xs[i]) <= k + O.stepSize + 1e-6),
        'within [0, 1] and k·eps + alpha',
      );
      const outside = seenAdv.filter((v, i) => Math.abs(v - xs[i]) > EPS + 1e-6).length;
      assert.ok(
        outside > seenAdv.length / 4,
        `no projection onto the eps ball: ${outside} of ${seenAdv.length} pixels beyond eps`,
      );
      assert.ok(
        seenAdv.some((v, i) => (v === 0 || v === 1) && Math.abs(xs[i] - v) > 1e-3),
        'the [0, 1] clamp binds somewhere',
      );
      await assertSameState(a.model, b.model, `after minibatch ${s + 1}`);
      x.dispose();
      y.dispose();
    }
    assert.equal(h.meter.passes, { ...noPasses(), forward: 4, backwardInputOnly: 2, backwardWeights: 2, sgdSteps: 2 });
    method.dispose?.();
    a.dispose();
    b.dispose();
  },
);

t('options: noise 2·eps and step eps by default, the step follows eps; flags refused with their range', () => {
  // eps is the run's threat model's (default 8/255), not an option of the method.
  assert.equal(resolveMethod({ name: 'nfgsm' }).options, { noise: 2, stepSize: 8 / 255 });
  assert.equal(parseShortForm('nfgsm').options, { noise: 2, stepSize: 8 / 255 });
  const flags = (...argv: string[]) => parseCommand(train, argv) as FlagsOf<typeof train>;
  const parse = (...argv: string[]) => methodFromFlags(flags(...argv));
  assert.equal(parse('--method', 'nfgsm', '--eps', '4/255').config, { name: 'nfgsm', noise: 2, stepSize: 4 / 255 });
  assert.equal(threatFromFlags(flags('--method', 'nfgsm', '--eps', '4/255')), { norm: 'linf', eps: 4 / 255 });
  assert.equal(parse('--method', 'nfgsm', '--noise', '0', '--step-size', '10/255').options, {
    noise: 0,
    stepSize: 10 / 255,
  });
  assertThrows(() => parse('--method', 'nfgsm', '--noise', '-1'), /--noise must be a number in \[0, 16\], got -1/);
  assertThrows(() => parse('--method', 'nfgsm', '--step-size', '0'), /--step-size must be a size in \(0, 1\], got 0/);
  assertThrows(() => parseShortForm('nfgsm-2'), /method 'nfgsm-2'/);
});

t.run();
