// "Adversarial Training for Free!" (Shafahi et al., 2019), Algorithm 1. One perturbation buffer persists across
// minibatches and epochs; each minibatch is replayed m times, and every replay's single backward pass yields
// both the weight gradient (an SGD step) and the input gradient (a signed step on the perturbation).
import { assignPrefix, keep, softmaxCrossEntropy, tidy, zeros, type Shape, type Tensor } from '../../engine/index.js';
import { pgdPerturb } from '../attacks/pgd.js';
import { noAttackPasses } from '../attacks/types.js';
import {
  defineMethod,
  noPasses,
  type Method,
  type ProbeContext,
  type ProbeValues,
  type StepContext,
  type StepResult,
} from '../method.js';
import { freshPgd, gradientCosine, lossAccuracy, PROBE_STREAM, probeInputGradient } from '../probes.js';
import { NORMS, type ThreatModel } from '../threat.js';

export interface FreeOptions {
  /** Replays of each minibatch (the paper's m). */
  replays: number;
  /**
   * Draw the perturbation afresh (uniform in the ball, as FGSM-RS starts) for each new minibatch instead of
   * carrying the previous minibatch's: a departure from the paper, to tell a weak carried perturbation from reuse.
   */
  randomStart?: boolean;
}

export class Free implements Method {
  /** The persistent perturbation; a smaller last batch uses (and updates) its first rows. Zero at the start. */
  private readonly delta: Tensor;

  /** The perturbation stays in the threat model's ball and mask; each step is eps (L-inf: eps·sign(g); L2: eps·g/‖g‖₂). */
  constructor(
    readonly opts: FreeOptions,
    readonly threat: ThreatModel,
    shape: Shape,
  ) {
    this.delta = keep(zeros(shape, 'delta'));
  }

  step(x: Tensor, y: Tensor, ctx: StepContext): StepResult {
    const { replays } = this.opts;
    const { threat } = this;
    const n = x.shape[0];
    // From stream `step`, so a resumed run draws what the original did.
    if (this.opts.randomStart) tidy(() => assignPrefix(this.delta, threat.randomDelta(x, ctx.seed, ctx.step)));
    let last: StepResult | null = null;
    for (let r = 0; r < replays; r++) {
      last?.loss.dispose();
      last?.correct.dispose();
      last = tidy(() => {
        const delta = n === this.delta.shape[0] ? this.delta : this.delta.prefix(n);
        const { loss, correct, leafGrads } = ctx.update(
          () => {
            const logits = ctx.model.forward(threat.apply(x, delta));
            return { loss: softmaxCrossEntropy(logits, y), logits };
          },
          y,
          [delta],
        );
        // The queue runs in order: this replay's passes have read delta before this overwrites it.
        assignPrefix(this.delta, threat.stepDelta(delta, leafGrads[0], threat.eps));
        return { loss, correct };
      });
    }
    return last!;
  }

  state(): Record<string, Tensor> {
    return { delta: this.delta };
  }

  dispose(): void {
    this.delta.dispose();
  }
}

/**
 * How stale free-m's reuse is, on the probe batch x with the carried perturbation's rows (as the next minibatch's
 * first replay sees it). grad_cos_after_update: per-example cosine between the input gradient a replay steps delta
 * with, g_x(theta_t, x + delta), and the one at the weights that replay's SGD step reaches, g_x(theta_t+1, x + delta)
 * (batch norm from batch statistics, as in training). Then, in eval mode, loss and accuracy clean, under delta, and
 * under a fresh PGD-7 from a random start on the current weights.
 */
async function freeProbes(_o: FreeOptions, p: ProbeContext): Promise<ProbeValues> {
  const n = p.x.shape[0];
  const delta = p.state.delta;
  const xd = keep(tidy(() => p.threat.apply(p.x, n === delta.shape[0] ? delta : delta.prefix(n))));
  try {
    const [before, weightGrads] = tidy(() => {
      const { grads } = p.grad(() => softmaxCrossEntropy(p.model.forward(xd), p.y), [xd, ...p.weights()]);
      return [keep(grads[0]), grads.slice(1).map(keep)] as const;
    });
    const after = await p.afterStep(weightGrads, async () => probeInputGradient(p, xd));
    for (const g of weightGrads) g.dispose();
    const cos = await gradientCosine(before, after);
    p.model.eval();
    const clean = await lossAccuracy(p, p.x);
    const free = await lossAccuracy(p, xd);
    const adv = keep(
      tidy(() =>
        pgdPerturb(
          (v) => p.model.forward(v),
          p.x,
          p.y,
          { ...freshPgd(p.threat), seed: p.seed, stream: PROBE_STREAM + p.step },
          noAttackPasses(),
        ),
      ),
    );
    const fresh = await lossAccuracy(p, adv).finally(() => adv.dispose());
    return {
      grad_cos_after_update: cos,
      clean_loss: clean.loss,
      clean_accuracy: clean.accuracy,
      delta_loss: free.loss,
      delta_accuracy: free.accuracy,
      fresh_pgd_loss: fresh.loss,
      fresh_pgd_accuracy: fresh.accuracy,
    };
  } finally {
    xd.dispose();
  }
}

export default defineMethod({
  name: 'free',
  summary:
    'free adversarial training (Shafahi et al. 2019): m replays per minibatch, perturbation carried across minibatches; --epochs is divided by m',
  options: {
    replays: {
      kind: 'int',
      min: 1,
      max: 64,
      default: 8,
      help: 'replays m of each minibatch (natural-equivalent epochs are divided by m)',
    },
    randomStart: {
      kind: 'flag',
      default: false,
      help: "a fresh uniform perturbation for each new minibatch instead of the carried one (a diagnostic departure from the paper's Algorithm 1)",
    },
  },
  norms: NORMS,
  short: ['replays'],
  shortLetters: ['M'],
  cost: (o) => ({ ...noPasses(), forward: o.replays, backwardWeights: o.replays, sgdSteps: o.replays }),
  create: (o, env) => new Free(o, env.threat, env.batchShape),
  probes: freeProbes,
});
