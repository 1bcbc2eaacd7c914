// YOPO-m-n ("You Only Propagate Once", Zhang et al. 2019) as the authors' code runs it (experiments/CIFAR10/
// wide34.yopo-5-3/training_function.py). Per minibatch: m full passes, each giving the weight gradients and the
// adjoint at the first layer's output; after each, n cheap steps on the perturbation through the first layer
// alone with that adjoint fixed; the weight gradients summed over the m passes; one SGD step.
// The code's two optimizers (the first layer, the rest) have the same learning rate, momentum and weight decay,
// so one SGD step over every parameter is the same update.
import { add, countCorrect, keep, softmaxCrossEntropy, sub, tidy, type Tensor } from '../../engine/index.js';
import {
  defineMethod,
  noPasses,
  type Method,
  type ProbeContext,
  type ProbeValues,
  type StepContext,
  type StepResult,
} from '../method.js';
import { gradientCosine, PROBE_STREAM } from '../probes.js';
import type { ThreatModel } from '../threat.js';
import { stepSize } from './common.js';

export interface YopoOptions {
  /** Full passes per minibatch. */
  m: number;
  /** Perturbation steps through the first layer after each full pass. */
  n: number;
  /** Step size of the perturbation steps. */
  sigma: number;
  /** The first layer's gradient: 'hamiltonian' (the paper) or 'both' (the released code: CE + Hamiltonian). */
  firstGrad: string;
}

export class Yopo implements Method {
  constructor(
    readonly opts: YopoOptions,
    readonly threat: ThreatModel,
  ) {}

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { split } = ctx.model;
    if (!split)
      throw new Error('yopo: the model has no split after its first layer (TrainModel.split), which YOPO needs');
    const { m, n, sigma, firstGrad } = this.opts;
    const { threat } = this;
    return tidy(() => {
      const weights = ctx.weights();
      const firstSet = new Set(split.firstParams);
      const restIdx = weights.map((_, i) => i).filter((i) => !firstSet.has(i));
      const firstWeights = split.firstParams.map((i) => weights[i]);
      const sums: (Tensor | null)[] = weights.map(() => null);
      // Summed as they come, so at most one gradient per parameter is held besides the running sums.
      const accumulate = (i: number, g: Tensor) => {
        const prev = sums[i];
        if (!prev) return void (sums[i] = g);
        sums[i] = add(prev, g);
        prev.dispose();
        g.dispose();
      };
      // Fresh each minibatch, not clipped to the box before the first pass (as the code).
      let eta = threat.randomDelta(x, ctx.seed, ctx.step);
      let loss: Tensor | null = null;
      // Written inside the gradient's function, which TypeScript's flow analysis does not see into.
      const last: { correct?: Tensor } = {};
      for (let j = 0; j < m; j++) {
        const xin = add(x, eta);
        // The first layer runs outside the tape, so its output is a leaf: the same backward yields the rest's
        // weight gradients and the adjoint g = dCE/dz1 = -p.
        const z1 = split.first(xin);
        last.correct?.dispose();
        const full = ctx.grad(() => {
          const logits = split.rest(z1);
          last.correct = keep(countCorrect(logits, y));
          return softmaxCrossEntropy(logits, y);
        }, [z1, ...restIdx.map((i) => weights[i])]);
        loss = full.value;
        const g = full.grads[0];
        restIdx.forEach((i, k) => accumulate(i, full.grads[k + 1]));
        // H(eta) = sum(first(x + eta in the box) · p): its gradient is the vector-Jacobian product of the first
        // layer seeded with -g, so ascent on CE steps along +sign of the product seeded with g.
        for (let s = 0; s < n; s++) {
          eta = tidy(() => {
            const {
              grads: [d],
            } = ctx.grad(() => split.first(threat.apply(x, eta)), [eta], g);
            return threat.stepDelta(eta, d, sigma, x);
          });
        }
        // The first layer's gradient of -H(x', p) = sum(first(x') · g); the released code also keeps the
        // first layer's CE gradient of this pass, sum(first(x + eta_j) · g): one backward of their sum.
        const xp = threat.apply(x, eta);
        const { grads: gw } = ctx.grad(
          () => (firstGrad === 'both' ? add(split.first(xin), split.first(xp)) : split.first(xp)),
          firstWeights,
          g,
        );
        split.firstParams.forEach((i, k) => accumulate(i, gw[k]));
      }
      ctx.sgdStep(sums as Tensor[]);
      return { loss: loss!, correct: last.correct! };
    });
  }
}

/**
 * How stale YOPO's frozen adjoint is, on the probe batch: one full pass at eta ~ U(-eps, eps) gives the adjoint at
 * the first layer's output; then at each of the n inner steps, the per-example cosine between the first-layer
 * (Hamiltonian) direction the step uses (that adjoint, fixed) and the true full-network input gradient at the same
 * point. Step 0 is at the point the adjoint came from (cosine 1); later steps show the drift.
 */
async function yopoProbes(o: YopoOptions, p: ProbeContext): Promise<ProbeValues> {
  const split = p.model.split;
  if (!split) throw new Error('yopo probes: the model has no split after its first layer');
  const { x, y } = p;
  // Started inside the box (the method's first pass is not clipped), so that at step 0 both directions are the
  // same chain rule through the same point: cosine 1 checks the instrument.
  const { threat } = p;
  let eta = keep(tidy(() => sub(threat.randomStart(x, p.seed, PROBE_STREAM + p.step), x)));
  const adjoint = keep(
    tidy(() => {
      const z1 = split.first(add(x, eta));
      return p.grad(() => softmaxCrossEntropy(split.rest(z1), y), [z1]).grads[0];
    }),
  );
  const cosines: number[] = [];
  for (let s = 0; s < o.n; s++) {
    const [hamiltonian, truth, next] = tidy(() => {
      const {
        grads: [d],
      } = p.grad(() => split.first(threat.apply(x, eta)), [eta], adjoint);
      const {
        grads: [g],
      } = p.grad(() => softmaxCrossEntropy(p.model.forward(threat.apply(x, eta)), y), [eta]);
      return [keep(d), keep(g), keep(threat.stepDelta(eta, d, o.sigma, x))];
    });
    cosines.push(await gradientCosine(hamiltonian, truth));
    eta.dispose();
    eta = next;
  }
  eta.dispose();
  adjoint.dispose();
  return {
    grad_cos_hamiltonian: cosines.reduce((a, b) => a + b, 0) / cosines.length,
    grad_cos_hamiltonian_first: cosines[0],
    grad_cos_hamiltonian_last: cosines.at(-1)!,
  };
}

export default defineMethod({
  name: 'yopo',
  summary:
    'YOPO-m-n (Zhang et al. 2019): m full passes, each followed by n perturbation steps through the first layer alone; one SGD step per minibatch',
  options: {
    m: {
      kind: 'int',
      min: 1,
      max: 64,
      default: 5,
      help: 'full forward+backward passes per minibatch (weight gradients summed over them)',
    },
    n: {
      kind: 'int',
      min: 1,
      max: 64,
      default: 3,
      help: 'perturbation steps through the first layer after each full pass',
    },
    sigma: stepSize(
      (_, t) => t.eps / 4,
      "step size of the first-layer perturbation steps (the code's 2/255 at eps 8/255)",
      'eps/4',
    ),
    firstGrad: {
      kind: 'choice',
      choices: ['both', 'hamiltonian'],
      default: 'both',
      help:
        "the first layer's gradient: 'both', the released code's (its first layer keeps its CE gradient and adds the " +
        "Hamiltonian's; the published numbers come from this code, hence the default) or 'hamiltonian', the paper's (the Hamiltonian's alone)",
    },
  },
  short: ['m', 'n'],
  cost: (o) => ({
    ...noPasses(),
    forward: o.m,
    backwardWeights: o.m,
    // Per full pass: n steps (a first-layer forward and backward each), then the first layer's weight gradient.
    partialForward: o.m * (o.n + (o.firstGrad === 'both' ? 2 : 1)),
    partialBackward: o.m * (o.n + 1),
    sgdSteps: 1,
  }),
  create: (o, env) => new Yopo(o, env.threat),
  probes: yopoProbes,
});
