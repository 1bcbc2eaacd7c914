import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rt, sgdStep, tidy, zeros, type SgdStepOptions } from '../engine/index.js';
import { assertClose, assertThrows, gpu, randn, ready } from './helpers.js';

const t = suite('sgd');
t.before(ready);

const f32 = (a: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(a));

/**
 * torch.optim.SGD's update, transcribed in float64 (dampening 0): weight decay is added to the gradient; the
 * momentum buffer starts as a clone of the first gradient; Nesterov steps along g + momentum·buf.
 */
function torchSgd(p: Float64Array, grads: Float64Array[], o: Required<Omit<SgdStepOptions, 'dampening'>>) {
  const bufs: Float64Array[] = []; // empty until the first step, like PyTorch's momentum_buffer = None
  for (const grad of grads) {
    let d = grad.map((g, i) => g + o.weightDecay * p[i]);
    if (o.momentum !== 0) {
      const buf = bufs.length === 0 ? Float64Array.from(d) : bufs[0].map((b, i) => o.momentum * b + d[i]);
      bufs[0] = buf;
      d = o.nesterov ? d.map((g, i) => g + o.momentum * buf[i]) : Float64Array.from(buf);
    }
    p = p.map((w, i) => w - o.lr * d[i]);
  }
  return { p, buf: bufs[0] };
}

// Tight tolerances: one step's weight-decay term is lr·wd·|p| ≈ 5e-5, below the default atol (1e-4), so the
// defaults could not tell a missing or misplaced weight decay. fp32 rounding over 6 steps is ~1e-7·|p|.
const RTOL = 1e-5;
const ATOL = 1e-6;

t('several steps match float64 PyTorch SGD (momentum 0.9, wd 5e-4, nesterov on and off, plain)', async () => {
  const shape = [17, 61]; // 1037 elements: not a multiple of the workgroup size
  const n = 17 * 61;
  const configs = [
    { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: false },
    { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true },
    { lr: 0.05, momentum: 0.9, weightDecay: 0, nesterov: true },
    { lr: 0.2, momentum: 0, weightDecay: 5e-4, nesterov: false },
  ];
  for (const [ci, o] of configs.entries()) {
    const p0 = f32(randn(n, 100 + ci));
    const grads = Array.from({ length: 6 }, (_, s) => f32(randn(n, 200 + 10 * ci + s, 0.5)));
    const param = gpu(p0, shape, 'w');
    const buf = zeros(shape, 'w_momentum');
    for (const g of grads) {
      const grad = gpu(g, shape, 'dw');
      sgdStep(param, grad, buf, o);
      grad.dispose();
    }
    const ref = torchSgd(p0, grads, o);
    const what = JSON.stringify(o);
    assertClose(await param.data(), ref.p, `param ${what}`, RTOL, ATOL);
    // PyTorch keeps no buffer without momentum; ours then holds the last g and is not compared.
    if (ref.buf) assertClose(await buf.data(), ref.buf, `momentum buffer ${what}`, RTOL, ATOL);
    param.dispose();
    buf.dispose();
  }
});

t('one optimizer dispatch per step, in place', async () => {
  const param = gpu([1, 2, 3], [3], 'w');
  const grad = gpu([0.5, -1, 2], [3], 'dw');
  const buf = zeros([3], 'm');
  rt().resetCounters();
  sgdStep(param, grad, buf, { lr: 0.5 });
  const c = rt().counters();
  assert.is(c.total, 1);
  assert.is(c.byFamily.optimizer, 1);
  assertClose(await param.data(), [0.75, 2.5, 2], 'param', 0, 0);
  for (const x of [param, grad, buf]) x.dispose();
});

t('errors name all three tensors and the bad option', () => {
  tidy(() => {
    const w = gpu(randn(12, 1), [3, 4], 'w');
    const g = gpu(randn(12, 2), [3, 4], 'g');
    const m = zeros([3, 4], 'm');
    assertThrows(
      () => sgdStep(w, gpu(randn(12, 3), [4, 3], 'gt'), m, { lr: 0.1 }),
      /sgdStep/,
      /'w' \[3,4\]/,
      /'gt' \[4,3\]/,
      /'m' \[3,4\]/,
    );
    assertThrows(
      () => sgdStep(w, g, zeros([12], 'm12'), { lr: 0.1 }),
      /sgdStep/,
      /'w' \[3,4\]/,
      /'g' \[3,4\]/,
      /'m12' \[12\]/,
    );
    assertThrows(() => sgdStep(w, w, m, { lr: 0.1 }), /sgdStep/, /distinct/);
    assertThrows(() => sgdStep(w, g, m, { lr: 0.1, nesterov: true }), /nesterov/, /momentum/);
    assertThrows(() => sgdStep(w, g, m, { lr: 0.1, momentum: 0.9, dampening: 0.1 as 0 }), /dampening 0.1/);
    assertThrows(() => sgdStep(w, g, m, { lr: -1 }), /lr/, /-1/);
    assertThrows(() => sgdStep(w, g, m, { lr: NaN }), /lr/, /NaN/);
  });
});

t.run();
