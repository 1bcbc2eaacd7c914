// Free adversarial training (Algorithm 1): m SGD steps per minibatch, and the perturbation carried across
// minibatches, checked by value against a step-by-step host reimplementation of the algorithm.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { add, clamp, softmaxCrossEntropy, tensor, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import { ThreatModel } from '../adversarial/threat.js';
import { Free } from '../adversarial/methods/free.js';
import { noPasses } from '../adversarial/method.js';
import { Harness } from '../train/harness.js';
import { assertClose, randu, ready, tinyTrainSetup } from './helpers.js';

const t = suite('free');
t.before(ready);

const [B, C, H, W] = [4, 3, 8, 8];
const M = 3;
const EPS = 0.05;

const setup = () => tinyTrainSetup();

const batches = [
  { x: randu(B * C * H * W, 1), y: Int32Array.from([1, 3, 5, 7]) },
  { x: randu(3 * C * H * W, 2), y: Int32Array.from([2, 4, 6]) }, // a smaller last batch: the first 3 rows of delta
  { x: randu(B * C * H * W, 3), y: Int32Array.from([0, 9, 8, 1]) },
];

/** Free-m on three minibatches against the host reference; with randomStart each minibatch starts from a fresh draw. */
async function checkAgainstHost(randomStart: boolean) {
  const a = setup();
  const threat = ThreatModel.image({ norm: 'linf', eps: EPS }, [C, H, W]);
  const free = new Free({ replays: M, randomStart }, threat, [B, C, H, W]);
  let lrCalls = 0;
  const h = new Harness(a.model, a.opt, 0, () => (lrCalls++, 0.05));

  // The reference: the same model and optimizer, delta kept on the host in float64 and updated there.
  const b = setup();
  const delta = new Float64Array(B * C * H * W);

  for (const [i, batch] of batches.entries()) {
    const n = batch.y.length;
    const x = tensor(Float32Array.from(batch.x), [n, C, H, W], { name: 'x' });
    const y = tensor(batch.y, [n], { name: 'y' });
    const res = h.run(free, x, y);
    res.loss.dispose();
    res.correct.dispose();

    if (randomStart) {
      // The draw of minibatch i (seed 0, stream i): uniform in [-eps, eps), replacing the carried rows.
      const drawn = await tidy(() => threat.randomDelta(x, 0, i)).data();
      assert.ok(
        drawn.every((v) => Math.abs(v) <= EPS) && new Set(drawn).size > drawn.length / 2,
        'a uniform draw in the ball',
      );
      delta.set(drawn);
    }
    for (let r = 0; r < M; r++) {
      const d = tensor(Float32Array.from(delta.subarray(0, n * C * H * W)), [n, C, H, W], { name: 'd' });
      const weights = b.params.map(([, p]) => p.tensor);
      const { grads } = tidy(() =>
        valueAndGrads(() => softmaxCrossEntropy(b.model.forward(clamp(add(x, d), 0, 1)), y), [d, ...weights]),
      );
      b.opt.step(grads.slice(1), 0.05);
      const g = await grads[0].data();
      for (let k = 0; k < g.length; k++) delta[k] = Math.min(EPS, Math.max(-EPS, delta[k] + EPS * Math.sign(g[k])));
      for (const gr of grads) gr.dispose();
      d.dispose();
    }
    assert.is(h.meter.passes.sgdSteps, M * (i + 1), 'SGD steps');
    assert.is(lrCalls, M * (i + 1), 'one learning rate per SGD step');
    const got = await free.state!().delta.data();
    assertClose(got, delta, `delta after minibatch ${i + 1}`, 0, 1e-7);
    assert.ok(
      got.every((v) => Math.abs(v) <= EPS + 1e-7),
      'delta within eps',
    );
    const wa = await Promise.all(a.params.map(([, p]) => p.tensor.data()));
    const wb = await Promise.all(b.params.map(([, p]) => p.tensor.data()));
    wa.forEach((w, k) => assertClose(w, wb[k], `weight ${a.params[k][0]} after minibatch ${i + 1}`, 1e-5, 1e-6));
    x.dispose();
    y.dispose();
  }
  assert.ok(
    delta.some((v) => v !== 0),
    'the perturbation is not trivially zero',
  );
  assert.equal(h.meter.passes, { ...noPasses(), forward: 3 * M, backwardWeights: 3 * M, sgdSteps: 3 * M });
  for (const s of [a, b]) {
    s.opt.dispose();
    s.model.dispose();
  }
  free.dispose();
}

t('m SGD steps per minibatch; delta carried over and updated by value, within eps', () => checkAgainstHost(false));

t('randomStart: each minibatch starts from a fresh uniform draw (stream = step), then m signed steps', () =>
  checkAgainstHost(true),
);

t('the perturbation the model sees keeps x + delta in [0, 1]', async () => {
  const a = setup();
  const eps = 0.5; // large, so that clamping to [0, 1] matters
  const free = new Free({ replays: 2 }, ThreatModel.image({ norm: 'linf', eps }, [C, H, W]), [B, C, H, W]);
  const inputs: Promise<Float32Array>[] = [];
  const forward = a.model.forward.bind(a.model);
  a.model.forward = (xin: Tensor) => {
    inputs.push(xin.data());
    return forward(xin);
  };
  const h = new Harness(a.model, a.opt, 0, () => 0.05);
  const x = tensor(Float32Array.from(batches[0].x), [B, C, H, W], { name: 'x' });
  const y = tensor(batches[0].y, [B], { name: 'y' });
  for (let i = 0; i < 2; i++) {
    const r = h.run(free, x, y);
    r.loss.dispose();
    r.correct.dispose();
  }
  const seen = await Promise.all(inputs);
  assert.is(seen.length, 4, 'one forward per replay');
  for (const d of seen)
    assert.ok(
      d.every((v) => v >= 0 && v <= 1),
      'x + delta within [0,1]',
    );
  assert.ok(
    seen[3].some((v) => v === 0 || v === 1) && seen[3].some((v, k) => v !== batches[0].x[k]),
    'the input was perturbed and clamped',
  );
  const delta = await free.state!().delta.data();
  assert.ok(
    delta.every((v) => Math.abs(v) <= eps),
    'delta within eps',
  );
  for (const v of [x, y]) v.dispose();
  free.dispose();
  a.opt.dispose();
  a.model.dispose();
});

t.run();
