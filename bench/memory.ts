// Peak GPU memory of one training step next to what must be live in it: weights, their gradients, the momenta,
// the input batch and the activations the backward pass needs (measured as the bytes the forward pass leaves
// allocated; every intermediate of a WRN forward is read by some backward kernel). The ratio shows what the
// backward's transients and the pool's size-class rounding cost on top.
import { memory, randomUniform, rt, softmaxCrossEntropy, tensor, tidy, valueAndGrads } from '../engine/index.js';
import { Sgd } from '../nn/optim.js';
import { parseArch, WideResNet } from '../nn/models/wrn.js';

export interface MemoryReport {
  arch: string;
  batch: number;
  weightBytes: number;
  /** Weights + gradients + momenta + input batch + saved activations. */
  mustBeLive: number;
  activationBytes: number;
  /** Highest bytes in use by tensors during the step (pool size classes included). */
  peakInUse: number;
  /** Bytes the pool holds from the device at the end (in use + free for reuse). */
  allocated: number;
  ratio: number;
}

export async function memoryCheck(arch: string, batch: number, image: number, seed: number): Promise<MemoryReport> {
  const model = new WideResNet(parseArch(arch), seed);
  const params = model.namedParameters();
  const opt = new Sgd(params, { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' });
  const x = randomUniform([batch, 3, image, image], 0, 1, seed, 1, 'x');
  const y = tensor(
    Int32Array.from({ length: batch }, (_, i) => i % 10),
    [batch],
    { name: 'y' },
  );
  await rt().sync();
  const weightBytes = params.reduce((s, [, p]) => s + p.tensor.bytes, 0);
  const pool = rt().pool;
  pool.resetPeak();
  const before = memory().bytesInUse;
  let afterForward = 0;
  tidy(() => {
    const weights = params.map(([, p]) => p.tensor);
    const { grads } = valueAndGrads(() => {
      const loss = softmaxCrossEntropy(model.forward(x), y);
      afterForward = memory().bytesInUse;
      return loss;
    }, [x, ...weights]);
    opt.step(grads.slice(1), 0.1);
  });
  await rt().sync();
  const stats = memory();
  const activationBytes = afterForward - before;
  // `before` already holds the weights, the momenta and the batch; the gradients come on top.
  const mustBeLive = before + weightBytes + x.bytes + activationBytes;
  const report = {
    arch,
    batch,
    weightBytes,
    mustBeLive,
    activationBytes,
    peakInUse: stats.peakBytesInUse,
    allocated: stats.bytesAllocated,
    ratio: stats.peakBytesInUse / mustBeLive,
  };
  for (const t of [x, y]) t.dispose();
  opt.dispose();
  model.dispose();
  return report;
}
