// The pass meter's classification of backward passes, including nested valueAndGrads calls (a loss that contains
// input gradients): each call is judged by what ran inside its own function, whatever the order, and a backward
// through a recorded (createGraph) backward is second order.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mul, sum, tensor, tidy, valueAndGrads, type Tensor } from '../engine/index.js';
import { noPasses } from '../adversarial/method.js';
import { PassMeter } from '../train/passes.js';
import { ready } from './helpers.js';

const t = suite('passes');
t.before(ready);

/** A stand-in model: a weight w, f(x) = Σ w·x·x, each call reported to the meter as a full forward pass. */
function setup() {
  const w = tensor(Float32Array.from([0.5, -1, 2]), [3], { name: 'w' });
  const x = tensor(Float32Array.from([1, 2, 3]), [3], { name: 'x' });
  const meter = new PassMeter([w]);
  const f = (v: Tensor) => (meter.forward(), sum(mul(w, mul(v, v))));
  return { w, x, meter, f };
}

t('nested calls: an inner input gradient, recorded or not, before or after the outer forward', () => {
  const { w, x, meter, f } = setup();
  const inner = (createGraph: boolean) => valueAndGrads(() => f(x), [x], { createGraph }).grads[0];
  const cases: [string, () => Tensor, Partial<ReturnType<typeof noPasses>>][] = [
    ['top level', () => f(x), { forward: 1, backwardWeights: 1 }],
    [
      'recorded inner gradient after the outer forward',
      () => mul(f(x), sum(inner(true))),
      { forward: 2, backwardInputOnly: 1, backwardSecondOrder: 1 },
    ],
    [
      'recorded inner gradient before the outer forward',
      () => mul(sum(inner(true)), f(x)),
      { forward: 2, backwardInputOnly: 1, backwardSecondOrder: 1 },
    ],
    [
      'an inner gradient that is a constant',
      () => mul(f(x), sum(inner(false))),
      { forward: 2, backwardInputOnly: 1, backwardWeights: 1 },
    ],
    // The outer function runs no forward pass of its own, yet the inner one's is recorded on its tape too.
    [
      'the loss is the recorded gradient alone',
      () => sum(inner(true)),
      { forward: 1, backwardInputOnly: 1, backwardSecondOrder: 1 },
    ],
    ['no forward inside: a partial pass', () => sum(mul(w, w)), { partialBackward: 1 }],
  ];
  for (const [what, loss, want] of cases) {
    Object.assign(meter.passes, noPasses());
    meter.measure(() => tidy(() => void valueAndGrads(loss, [w])));
    assert.equal(meter.passes, { ...noPasses(), ...want }, what);
  }
  for (const v of [w, x]) v.dispose();
});

t.run();
