// The models suite: a training step of each registered model at its dataset's usual batch (mnist-net on MNIST,
// mlp-256x3 on letter's 16 features, wrn-16-1 on CIFAR-10; the batches are synthetic inputs of those shapes), as
// training runs it: wall and GPU time, dispatches and submits, the GPU-busy fraction, where the host's recording
// time goes, the same step in PyTorch's CPU backend, and the methods whose cost depends on the model (the
// reuse of free-m, the second-order passes of GradAlign and the gradient-norm penalty) as ratios to natural.
import { methodCosts, type MethodCostConfig, type MethodCostReport, type ModelSpec } from './method-cost.js';
import { pytorchModelStep, type PytorchStep } from './pytorch.js';

export interface ModelCase extends ModelSpec {
  /** What the input stands for, for the report. */
  data: string;
  /** Training examples of the dataset: a natural-equivalent epoch is trainSize / batch SGD steps. */
  trainSize: number;
  /** Timed minibatch steps per method and round, where more than the config's (small models: a step of tens of ms). */
  steps?: number;
}

/** The models and batches the experiments train. */
export const MODEL_CASES: readonly ModelCase[] = [
  { model: 'mnist-net', data: 'MNIST', input: [1, 28, 28], classes: 10, batch: 100, trainSize: 60_000, steps: 6 },
  {
    model: 'mlp-256x3',
    data: "letter's 16 features",
    input: [16],
    classes: 26,
    batch: 256,
    trainSize: 16_000,
    steps: 6,
  },
  { model: 'wrn-16-1', data: 'CIFAR-10', input: [3, 32, 32], classes: 10, batch: 64, trainSize: 50_000 },
];

/** PyTorch's threads: the machine's two cores, as lavapipe gets. */
export const TORCH_THREADS = 2;

export interface ModelStep {
  model: string;
  data: string;
  input: readonly number[];
  classes: number;
  batch: number;
  /** One natural training step (forward, weight gradients, SGD update), steps submitted as in training. */
  wallMs: number;
  gpuMs: number | null;
  dispatches: number;
  submits: number;
  /** Readbacks per step. */
  reads: number;
  /** GPU time over wall time. */
  gpuBusy: number | null;
  /** Host milliseconds per step recording it: total, and the runtime's parts (the rest is the ops and the tape). */
  host: { recordMs: number; bindGroups: number; encode: number; submit: number; pool: number };
  /** PyTorch's CPU step, null where it was not measured (the reason is in `torch`). */
  torchMs: number | null;
  torch: PytorchStep;
  /** Every method of the suite on this model, natural first. */
  methods: MethodCostReport;
}

export interface ModelsConfig extends MethodCostConfig {
  modelCases: readonly ModelCase[];
  /** The methods priced on each model (natural is added first). */
  modelMethods: string[];
  /** Timed repetitions of PyTorch's step (at least 10). */
  reps: number;
}

export async function modelSteps(c: ModelsConfig, log: (line: string) => void = () => {}): Promise<ModelStep[]> {
  const out: ModelStep[] = [];
  for (const m of c.modelCases) {
    log(
      `models: ${m.model} on ${m.data} [${m.input.join(', ')}], batch ${m.batch}: ${['natural', ...c.modelMethods.filter((x) => x !== 'natural')].join(', ')}`,
    );
    const methods = await methodCosts(
      { ...c, methods: c.modelMethods, trainSize: m.trainSize, steps: Math.max(c.steps, m.steps ?? 0) },
      m,
    );
    const natural = methods.costs[0];
    const torch = await pytorchModelStep(m, TORCH_THREADS, Math.max(c.reps, 10), Math.max(c.warmup, 2), c.seed);
    out.push({
      model: m.model,
      data: m.data,
      input: m.input,
      classes: m.classes,
      batch: m.batch,
      wallMs: natural.wallMs,
      gpuMs: natural.gpuMs,
      dispatches: natural.dispatches,
      submits: natural.submits,
      reads: natural.reads,
      gpuBusy: natural.gpuMs === null ? null : natural.gpuMs / natural.wallMs,
      host: natural.host,
      torchMs: torch.measured ? torch.wallMs : null,
      torch,
      methods,
    });
  }
  return out;
}
