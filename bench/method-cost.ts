// What each training method costs on one model and batch, all measured in the same run: wall time of its steps
// as training runs them (batched submits, one sync at the end), GPU time and its breakdown by kernel family from
// a profiled repeat, passes and dispatches, and everything as a ratio to natural training. A natural-equivalent
// epoch is trainSize/batch SGD steps (free-M reaches it with 1/M of the minibatches, each replayed M times), so
// its time is projected from the measured time per SGD step.
import { keep, randomUniform, rt, tensor } from '../engine/index.js';
import type { KernelFamily } from '../engine/kernel.js';
import type { DispatchCounters, HostTimes } from '../engine/runtime.js';
import { perRun, profile, type Profile } from '../engine/profile.js';
import { noPasses, PASS_KINDS, type PassCounts } from '../adversarial/method.js';
import { ThreatModel } from '../adversarial/threat.js';
import { sgdStepsPerBatch } from '../adversarial/registry.js';
import { Sgd } from '../nn/optim.js';
import { resolveModel } from '../nn/registry.js';
import { Harness } from '../train/harness.js';
import { attackSteps, benchMethod, makeBenchMethod } from './methods.js';
import { repeat } from './timing.js';

/** A registered model on inputs of one shape, at one batch size. */
export interface ModelSpec {
  model: string;
  /** One example's shape, e.g. [3, 32, 32] or [16]. */
  input: readonly number[];
  classes: number;
  batch: number;
}

export interface MethodCostConfig {
  /** The model of the WRN runs (any registered model name), on [3, image, image] CIFAR-10 inputs. */
  arch: string;
  batch: number;
  /** Image side (CIFAR: 32). */
  image: number;
  /** Method names (bench/methods.ts); natural is added first when missing, as every ratio needs it. */
  methods: string[];
  eps: number;
  /** Timed minibatch steps per method and round (and as many profiled ones). */
  steps: number;
  /** Rounds, each timing every method in turn; the median round's figures are reported. */
  rounds: number;
  warmup: number;
  /** Training-set size defining a natural-equivalent epoch (CIFAR-10: 50000). */
  trainSize: number;
  seed: number;
  /** Also run the steps under the timestamp profiler (needs the timestamp-query feature). */
  profile: boolean;
}

/** The optimizer of the paper setups: SGD, momentum 0.9, weight decay on every parameter. */
export const SGD_OPTIONS = { momentum: 0.9, nesterov: false, weightDecay: 5e-4, decay: 'all' as const };
export const LR = 0.01;

export interface MethodCost {
  method: string;
  /** SGD steps per minibatch (free-M: M). */
  replays: number;
  /** Per minibatch. */
  passes: PassCounts;
  dispatches: number;
  dispatchesByFamily: Partial<Record<KernelFamily, number>>;
  /** Queue submits and readbacks per minibatch. */
  submits: number;
  reads: number;
  /**
   * Host milliseconds per minibatch recording its work (the steps return before the GPU finishes): in all, and in
   * the runtime's bind groups, encoding, submits and buffer pool (engine/runtime.ts HostTimes).
   */
  host: { recordMs: number } & HostTimes;
  wallMs: number;
  /** Per minibatch, summed over dispatches; null without profiling. */
  gpuMs: number | null;
  /** Per SGD step: the minibatch's cost over its replays. */
  sgdStepWallMs: number;
  sgdStepGpuMs: number | null;
  /** Projected time of a natural-equivalent epoch, in seconds. */
  epochWallS: number;
  epochGpuS: number | null;
  /** Epoch cost over natural's in the same run. */
  ratioWall: number;
  ratioGpu: number | null;
  /** GPU time and FLOPs per SGD step, by kernel family and by kernel ('family/kernel'). */
  byFamily: Profile['byFamily'];
  byKernel: Profile['byKernel'];
}

/** Where K attack steps go: each step's cost with an input-only vs a full backward, from pgd-K and pgd-K-full. */
export interface AttackStepCost {
  method: string;
  steps: number;
  /** Per attack step: (method − natural) / K, wall and GPU. */
  inputOnly: { wallMs: number; gpuMs: number | null };
  full: { wallMs: number; gpuMs: number | null };
  /** 1 − inputOnly / full. */
  saving: { wall: number; gpu: number | null };
  /** Fraction of the input-only method's GPU time spent in attack steps rather than in the SGD update. */
  attackShare: number | null;
}

export interface MethodCostReport {
  /** SGD steps in a natural-equivalent epoch: ceil(trainSize / batch). */
  stepsPerEpoch: number;
  costs: MethodCost[];
  attacks: AttackStepCost[];
}

/** One method's measurements, before the epoch projections and the ratios to natural. */
export type MeasuredCost = Omit<MethodCost, 'epochWallS' | 'epochGpuS' | 'ratioWall' | 'ratioGpu'>;

/** The CIFAR-10 model of a WRN config. */
export const cifarSpec = (c: MethodCostConfig): ModelSpec => ({
  model: c.arch,
  input: [3, c.image, c.image],
  classes: 10,
  batch: c.batch,
});

/** One method ready to step, with its own model, optimizer and batch, as the trainer builds them. */
interface Subject {
  name: string;
  replays: number;
  harness: Harness;
  step(): void;
  dispose(): void;
}

function prepare(name: string, c: MethodCostConfig, spec: ModelSpec): Subject {
  const { batch, classes } = spec;
  const shape = [batch, ...spec.input];
  const model = resolveModel(spec.model, spec.input, classes).build(c.seed);
  const opt = new Sgd(model.namedParameters(), SGD_OPTIONS);
  const threatSpec = { norm: 'linf', eps: c.eps } as const;
  const resolved = benchMethod(name, threatSpec);
  const threat = ThreatModel.image(threatSpec, spec.input);
  const method = makeBenchMethod(resolved, {
    batchShape: shape,
    threat,
    seed: c.seed,
    trainSize: c.trainSize,
    classes,
  });
  const x = keep(randomUniform(shape, 0, 1, c.seed, 1, 'images'));
  const y = keep(
    tensor(
      Int32Array.from({ length: batch }, (_, i) => (i * 7 + c.seed) % classes),
      [batch],
      { name: 'labels' },
    ),
  );
  const harness = new Harness(model, opt, c.seed, () => LR);
  // Each step takes the next slice of the training set, as an epoch does: a per-example method (ATTA) reads each
  // batch's state back asynchronously, and an example may come back only once that has landed.
  let batches = 0;
  return {
    name,
    replays: sgdStepsPerBatch(resolved),
    harness,
    step: () => {
      const indices = Uint32Array.from({ length: batch }, (_, i) => (batches * batch + i) % c.trainSize);
      batches++;
      const r = harness.run(method, x, y, { indices, epoch: 0, augment: null });
      r.loss.dispose();
      r.correct.dispose();
    },
    dispose: () => {
      for (const t of [x, y]) t.dispose();
      method.dispose?.();
      threat.dispose();
      opt.dispose();
      model.dispose();
    },
  };
}

interface Round {
  wallMs: number;
  recordMs: number;
  host: HostTimes;
  counters: DispatchCounters;
  passes: PassCounts;
}

/** `steps` minibatches of `s` as training runs them (submitted back to back, one wait), per minibatch. */
async function timeRound(s: Subject, steps: number): Promise<Round> {
  Object.assign(s.harness.meter.passes, noPasses());
  rt().resetCounters();
  rt().setHostTiming(true);
  const t0 = performance.now();
  repeat(steps, s.step);
  const recordMs = (performance.now() - t0) / steps;
  const host = rt().setHostTiming(false)!;
  await rt().sync();
  const wallMs = (performance.now() - t0) / steps;
  const per = (v: number) => v / steps;
  return {
    wallMs,
    recordMs,
    host: {
      bindGroups: per(host.bindGroups),
      encode: per(host.encode),
      submit: per(host.submit),
      pool: per(host.pool),
    },
    counters: rt().counters(),
    passes: Object.fromEntries(PASS_KINDS.map((k) => [k, per(s.harness.meter.passes[k])])) as unknown as PassCounts,
  };
}

/** The element of `xs` whose `key` is the median (the lower one of an even count). */
function median<T>(xs: T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[(xs.length - 1) >> 1];
}

/**
 * Every method in `names` on `spec`, in rounds: each round times every method in turn (c.steps minibatches each),
 * so that a machine whose load changes during the run weighs on all of them alike; then the same rounds under
 * the profiler. Each figure is the median round's.
 */
async function measureAll(names: string[], c: MethodCostConfig, spec: ModelSpec): Promise<MeasuredCost[]> {
  const subjects: Subject[] = [];
  try {
    for (const name of names) subjects.push(prepare(name, c, spec));
    for (const s of subjects) repeat(c.warmup, s.step);
    await rt().sync();
    const rounds: Round[][] = subjects.map(() => []);
    const profiles: Profile[][] = subjects.map(() => []);
    for (let r = 0; r < c.rounds; r++) {
      for (const [i, s] of subjects.entries()) rounds[i].push(await timeRound(s, c.steps));
    }
    if (c.profile) {
      for (let r = 0; r < c.rounds; r++) {
        // Per SGD step, so methods with several SGD steps per minibatch compare directly.
        for (const [i, s] of subjects.entries())
          profiles[i].push(perRun(await profile(() => repeat(c.steps, s.step)), c.steps * s.replays));
      }
    }
    return subjects.map((s, i) => {
      const wall = median(rounds[i], (x) => x.wallMs);
      const record = median(rounds[i], (x) => x.recordMs);
      const { counters, passes } = rounds[i][0];
      const per = (v: number) => v / c.steps;
      const prof = c.profile ? median(profiles[i], (p) => p.ms) : null;
      return {
        method: s.name,
        replays: s.replays,
        passes,
        dispatches: per(counters.total),
        dispatchesByFamily: Object.fromEntries(Object.entries(counters.byFamily).map(([k, v]) => [k, per(v)])),
        submits: per(counters.submits),
        reads: per(counters.reads),
        host: { recordMs: record.recordMs, ...record.host },
        wallMs: wall.wallMs,
        gpuMs: prof ? prof.ms * s.replays : null,
        sgdStepWallMs: wall.wallMs / s.replays,
        sgdStepGpuMs: prof?.ms ?? null,
        byFamily: prof?.byFamily ?? {},
        byKernel: prof?.byKernel ?? {},
      };
    });
  } finally {
    for (const s of subjects) s.dispose();
  }
}

const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a / b);

function attackCost(costs: MethodCost[]): AttackStepCost[] {
  const natural = costs[0];
  const perStep = (m: MethodCost, k: number) => ({
    wallMs: (m.wallMs - natural.wallMs) / k,
    gpuMs: m.gpuMs === null || natural.gpuMs === null ? null : (m.gpuMs - natural.gpuMs) / k,
  });
  const out: AttackStepCost[] = [];
  for (const m of costs) {
    const k = attackSteps(m.method);
    const full = costs.find((f) => f.method === `${m.method}-full`);
    if (!k || !full) continue;
    const inputOnly = perStep(m, k);
    const fullStep = perStep(full, k);
    const gpuRatio = ratio(inputOnly.gpuMs, fullStep.gpuMs);
    out.push({
      method: m.method,
      steps: k,
      inputOnly,
      full: fullStep,
      saving: { wall: 1 - inputOnly.wallMs / fullStep.wallMs, gpu: gpuRatio === null ? null : 1 - gpuRatio },
      attackShare: inputOnly.gpuMs === null || m.gpuMs === null ? null : (k * inputOnly.gpuMs) / m.gpuMs,
    });
  }
  return out;
}

/** Every method of `config` on `spec` (default: the config's CIFAR-10 WRN), natural first. */
export async function methodCosts(
  config: MethodCostConfig,
  spec: ModelSpec = cifarSpec(config),
): Promise<MethodCostReport> {
  const names = ['natural', ...config.methods.filter((m) => m !== 'natural')];
  return summarize(await measureAll(names, config, spec), Math.ceil(config.trainSize / spec.batch));
}

/** Epoch projections, ratios to natural (measured[0]) and attack-step costs from the measurements. */
export function summarize(measured: MeasuredCost[], stepsPerEpoch: number): MethodCostReport {
  const nat = measured[0];
  const costs: MethodCost[] = measured.map((m) => ({
    ...m,
    epochWallS: (m.sgdStepWallMs * stepsPerEpoch) / 1000,
    epochGpuS: m.sgdStepGpuMs === null ? null : (m.sgdStepGpuMs * stepsPerEpoch) / 1000,
    ratioWall: m.sgdStepWallMs / nat.sgdStepWallMs,
    ratioGpu: ratio(m.sgdStepGpuMs, nat.sgdStepGpuMs),
  }));
  return { stepsPerEpoch, costs, attacks: attackCost(costs) };
}
