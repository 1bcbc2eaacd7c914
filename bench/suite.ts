// The benchmark suite: single-op kernels, training-method costs, the registered models' training steps with
// PyTorch's, and the TensorFlow.js comparison, run in one process on one adapter so every ratio compares numbers
// from the same run.
import type { BenchEnv } from './env.js';
import { methodCosts, type MethodCostConfig, type MethodCostReport } from './method-cost.js';
import { opCases, type ConvShape } from './op-cases.js';
import { benchOurOps, type OurOpResult } from './ops-ours.js';
import { peerOps, peerStep, type PeerOpResult, type PeerStepResult } from './peer.js';
import { openTfjs } from './tfjs.js';
import { memoryCheck, type MemoryReport } from './memory.js';
import { measureRoofline, type Roofline } from './roofline.js';
import { MODEL_CASES, modelSteps, type ModelCase, type ModelStep } from './models.js';
import { dispatchOverhead, type DispatchOverhead } from './overhead.js';

export const SUITES = ['ops', 'methods', 'models', 'peer', 'memory'] as const;
export type SuiteName = (typeof SUITES)[number];

/** The method-cost settings, plus the suites to run, the single-op cases and the peer's settings. */
export interface BenchConfig extends MethodCostConfig {
  suites: SuiteName[];
  /** Timed repetitions per single op and per peer training step. */
  reps: number;
  matmul: number;
  convBatch: number;
  convShapes: ConvShape[];
  /** Dawn instance flags for tfjs, naming the same backend and adapter as ours. */
  peerFlags: string[];
  /** The memory check's model and batch (the issue: WRN-16-4 at batch 128). */
  memoryArch: string;
  memoryBatch: number;
  /** The roofline probes: steps of each fma chain, and the sizes of the copied buffers in bytes. */
  rooflineIters: number;
  copyBytes: number[];
  /** The models suite: each model at its batch, and the methods priced on each. */
  modelCases: readonly ModelCase[];
  modelMethods: string[];
  /** Dispatches per sample of the per-dispatch overhead (models suite). */
  overheadDispatches: number;
}

/** The full run: WRN-16-1 at batch 64 on CIFAR-sized images. */
export const FULL_CONFIG: BenchConfig = {
  suites: [...SUITES],
  arch: 'wrn-16-1',
  batch: 64,
  image: 32,
  methods: ['natural', 'free-2', 'free-4', 'free-8', 'pgd-3', 'pgd-7', 'pgd-10', 'fgsm-rs', 'pgd-7-full'],
  eps: 8 / 255,
  steps: 1,
  rounds: 3,
  warmup: 1,
  reps: 5,
  trainSize: 50_000,
  matmul: 1024,
  convBatch: 64,
  convShapes: [
    { C: 16, H: 32 },
    { C: 32, H: 16 },
    { C: 64, H: 8 },
  ],
  seed: 0,
  profile: true,
  peerFlags: [],
  memoryArch: 'wrn-16-4',
  memoryBatch: 128,
  // About 35 ms per FMA dispatch at 60 GFLOP/s; copies of a WRN-16-1 activation's size and of 8x that.
  rooflineIters: 2048,
  copyBytes: [4 * 2 ** 20, 32 * 2 ** 20],
  modelCases: MODEL_CASES,
  modelMethods: ['natural', 'free-8', 'gradalign', 'gradnorm'],
  overheadDispatches: 256,
};

/** Seconds on a software adapter: every code path, tiny shapes. */
export const TINY_CONFIG: BenchConfig = {
  ...FULL_CONFIG,
  arch: 'wrn-10-1',
  batch: 4,
  image: 8,
  methods: ['natural', 'free-2', 'pgd-2', 'pgd-2-full', 'fgsm-rs'],
  steps: 1,
  rounds: 2,
  reps: 2,
  trainSize: 64,
  matmul: 64,
  convBatch: 2,
  convShapes: [{ C: 4, H: 8 }],
  memoryArch: 'wrn-10-1',
  memoryBatch: 4,
  rooflineIters: 16,
  copyBytes: [2 ** 20],
  modelCases: [
    { model: 'mnist-net', data: 'MNIST', input: [1, 28, 28], classes: 10, batch: 2, trainSize: 64 },
    { model: 'mlp-8x2', data: '5 features', input: [5], classes: 3, batch: 4, trainSize: 64 },
  ],
  modelMethods: ['natural', 'free-2', 'gradalign', 'gradnorm'],
  overheadDispatches: 8,
};

export interface BenchReport {
  env: BenchEnv;
  config: BenchConfig;
  /** The adapter's FMA and bandwidth ceilings, measured first in every run. */
  roofline: Roofline;
  ops: OurOpResult[] | null;
  methods: MethodCostReport | null;
  peer: { adapter: string; version: string; ops: PeerOpResult[]; step: PeerStepResult } | null;
  memory: MemoryReport | null;
  /** The models suite: one entry per model. */
  models: ModelStep[] | null;
  /** The adapter's cost per dispatch (models suite). */
  overhead: DispatchOverhead | null;
}

export async function runBench(
  config: BenchConfig,
  env: BenchEnv,
  log: (line: string) => void = () => {},
): Promise<BenchReport> {
  const has = (s: SuiteName) => config.suites.includes(s);
  const cases = opCases(config.matmul, config.convBatch, config.convShapes);
  const opts = { reps: config.reps, warmup: config.warmup, seed: config.seed, profile: config.profile };
  log('roofline: FMA and copy probes');
  const roofline = await measureRoofline({
    iters: config.rooflineIters,
    copyBytes: config.copyBytes,
    reps: config.reps,
  });
  const report: BenchReport = {
    env,
    config,
    roofline,
    ops: null,
    methods: null,
    peer: null,
    memory: null,
    models: null,
    overhead: null,
  };
  // The peer's ratios need our side of the op cases.
  if (has('ops') || has('peer')) {
    log(`ops: ${cases.length} cases`);
    report.ops = await benchOurOps(cases, opts);
  }
  if (has('methods')) {
    log(`methods: ${config.methods.join(', ')} on ${config.arch}, batch ${config.batch}`);
    report.methods = await methodCosts(config);
  }
  if (has('models')) {
    log(`models: per-dispatch overhead, ${config.overheadDispatches} dispatches a sample`);
    report.overhead = await dispatchOverhead(config.overheadDispatches, config.reps, config.profile);
    report.models = await modelSteps(config, log);
  }
  if (has('peer')) {
    log('peer: tfjs ops');
    const peer = await openTfjs(config.peerFlags);
    const ops = await peerOps(peer, cases, report.ops!, opts);
    log(`peer: ${config.arch} training step, batch ${config.batch}`);
    const step = await peerStep(peer, config.arch, config.batch, config.image, opts);
    report.peer = { adapter: peer.adapter, version: peer.version, ops, step };
  }
  if (has('memory')) {
    log(`memory: one training step of ${config.memoryArch}, batch ${config.memoryBatch}`);
    report.memory = await memoryCheck(config.memoryArch, config.memoryBatch, config.image, config.seed);
  }
  return report;
}
