// The engine as a library: a small convolutional classifier written with its ops, trained three steps the way free
// adversarial training does: one forward and one backward give the loss's gradient for the weights and for the
// input, the weights take an SGD step and the perturbation a signed step, both from that one backward pass.
import * as af from 'advfree';

await af.init();
const eps = 8 / 255;
// Four 3x8x8 images in [0, 1] and their labels.
const x = af.randomUniform([4, 3, 8, 8], 0, 1, 1);
const y = af.tensor(Int32Array.from([0, 1, 2, 1]), [4]);
// A 3x3 convolution 3 -> 8, batch norm with a fused ReLU, global average pooling, a linear layer 8 -> 3.
const [w1, w2] = [af.randomNormal([8, 3, 3, 3], 0, 0.3, 2), af.randomNormal([3, 8], 0, 0.3, 3)];
const [gamma, beta, b2] = [af.fill([8], 1), af.fill([8], 0), af.fill([3], 0)];
const params = [w1, gamma, beta, w2, b2];
const stats = { runningMean: af.fill([8], 0), runningVar: af.fill([8], 1) };
const model = (v: af.Tensor) => {
  const h = af.batchNorm(af.conv2d(v, w1, { padding: 1 }), gamma, beta, stats, { training: true, relu: true });
  return af.linear(af.globalAvgPool(h), w2, b2);
};
const momenta = params.map((p) => af.fill(p.shape, 0));

let delta = af.fill(x.shape, 0);
for (let step = 1; step <= 3; step++) {
  const loss = af.tidy(() => {
    const xAdv = af.clamp(af.add(x, delta), 0, 1);
    const { value, grads } = af.valueAndGrads(() => af.softmaxCrossEntropy(model(xAdv), y), [xAdv, ...params]);
    params.forEach((p, i) => af.sgdStep(p, grads[i + 1], momenta[i], { lr: 0.1, momentum: 0.9 }));
    // grads[0] is d loss / d xAdv: free adversarial training spends it on the perturbation.
    const next = af.keep(af.clamp(af.add(delta, af.scale(af.sign(grads[0]), eps)), -eps, eps));
    delta.dispose();
    delta = next;
    return value;
  });
  console.log(`step ${step}: loss ${(await loss.item()).toFixed(4)} on the perturbed batch`);
  loss.dispose();
}
af.shutdown();
