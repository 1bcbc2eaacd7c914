// WideResNet layout: parameter counts and state_dict names against the reference PyTorch model, and its forward
// pass against the float64 one of reference/f64-wrn.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUniform, tidy } from '../engine/index.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';
import { wrnForward64 } from '../reference/f64-wrn.js';
import { assertThrows, ready } from './helpers.js';

const t = suite('wrn');
t.before(ready);

/**
 * Trainable parameters of the reference WRN-d-k, counted from its layout by hand: a 3x3 stem conv 3->16,
 * per block two 3x3 convs and two BNs (2 parameters a channel), a 1x1 shortcut where the width changes, a final
 * BN and a linear layer with bias.
 */
function referenceCount(depth: number, k: number, classes: number, blocks = (depth - 4) / 6): number {
  const ch = [16, 16 * k, 32 * k, 64 * k];
  let n = 27 * 16;
  for (let g = 0; g < 3; g++) {
    for (let b = 0; b < blocks; b++) {
      const cin = b === 0 ? ch[g] : ch[g + 1];
      const cout = ch[g + 1];
      n += 2 * cin + 9 * cin * cout + 2 * cout + 9 * cout * cout + (cin !== cout ? cin * cout : 0);
    }
  }
  return n + 2 * ch[3] + ch[3] * classes + classes;
}

t('parameter counts equal the reference layout', () => {
  assert.is(referenceCount(16, 1, 10), 175_066, 'the published WRN-16-1 count');
  for (const [arch, depth, k] of [
    ['wrn-16-1', 16, 1],
    ['wrn-16-4', 16, 4],
    ['wrn-28-10', 28, 10],
    ['wrn-34-10', 34, 10],
    ['wrn-32-10', 34, 10],
  ] as const) {
    const m = new WideResNet(parseArch(arch));
    assert.is(m.parameterCount(), referenceCount(depth, k, 10), arch);
    m.dispose();
  }
  const c100 = new WideResNet(parseArch('wrn-16-1', 100));
  assert.is(c100.parameterCount(), referenceCount(16, 1, 100), 'wrn-16-1, 100 classes');
  c100.dispose();
});

t('state_dict names and shapes follow the reference', () => {
  const m = new WideResNet(parseArch('wrn-16-1'));
  const shapes = Object.fromEntries(m.namedParameters().map(([n, p]) => [n, p.tensor.shape.join('x')]));
  assert.is(shapes['conv1.weight'], '16x3x3x3');
  assert.is(shapes['block1.layer.0.bn1.weight'], '16');
  assert.is(shapes['block1.layer.1.conv2.weight'], '16x16x3x3');
  assert.is(shapes['block2.layer.0.convShortcut.weight'], '32x16x1x1');
  assert.is(shapes['block3.layer.0.conv1.weight'], '64x32x3x3');
  assert.is(shapes['bn1.bias'], '64');
  assert.is(shapes['fc.weight'], '10x64');
  assert.is(shapes['fc.bias'], '10');
  assert.not.ok(
    'block1.layer.0.convShortcut.weight' in shapes,
    'no shortcut conv where the width is unchanged (k = 1)',
  );
  const buffers = m.namedBuffers().map(([n]) => n);
  assert.ok(buffers.includes('block3.layer.1.bn2.num_batches_tracked'));
  assert.ok(buffers.includes('bn1.running_var'));
  // 2 blocks a group, 2 BNs a block, plus the final BN: 13 BNs with 3 buffers each.
  assert.is(buffers.length, 13 * 3);
  m.dispose();
});

t('forward equals the float64 reference (batch statistics); eval mode leaves BN statistics alone', async () => {
  const arch = parseArch('wrn-10-1');
  const m = new WideResNet(arch, 3);
  const x = randomUniform([2, 3, 32, 32], 0, 1, 5);
  const logits = tidy(() => m.forward(x));
  assert.equal(logits.shape, [2, 10]);
  const params = new Map(
    await Promise.all(
      m.namedParameters().map(async ([n, p]) => [n, Float64Array.from(await p.tensor.data())] as const),
    ),
  );
  const want = wrnForward64(arch, params, Float64Array.from(await x.data()), x.shape, [0, 0]).logits;
  // fp32 sums of 27-576 terms per output against float64: 5e-7 of the logits' scale measured here.
  const got = await logits.data();
  const scale = Math.max(...want.map(Math.abs));
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5 * scale, `logit ${i}: ${v} vs float64 ${want[i]}`));
  m.eval();
  const stats = m.namedBuffers().flatMap(([, b]) => ('tensor' in b ? [b.tensor] : []));
  const before = await Promise.all(stats.map((s) => s.data()));
  tidy(() => m.forward(x)).dispose();
  const after = await Promise.all(stats.map((s) => s.data()));
  before.forEach((b, i) => assert.equal(Array.from(after[i]), Array.from(b), `buffer ${i} unchanged in eval`));
  logits.dispose();
  x.dispose();
  m.dispose();
});

t('bad architecture names are rejected with the valid form', () => {
  assertThrows(() => parseArch('resnet-18'), /wrn-DEPTH-WIDTH/);
  assertThrows(() => parseArch('wrn-15-1'), /6n\+4/);
});

t.run();
