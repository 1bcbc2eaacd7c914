// `advfree bench`: runs the benchmark suite and writes report.md, report.json and the families chart to --out.
// Sizes come from a preset (full: the WRN-16-1 / batch 64 run; tiny: seconds, for smoke tests), and any
// flag overrides its preset value.
import { init, shutdown } from '../engine/index.js';
import { parsePixels } from '../adversarial/units.js';
import { parseArch } from '../nn/models/wrn.js';
import { checkedBy, command, intFlag, oneOf, type FlagSet, type Values } from './args.js';
import { benchEnv } from '../bench/env.js';
import { checkMethodName, METHOD_FORMS } from '../bench/methods.js';
import type { ConvShape } from '../bench/op-cases.js';
import { REPORT_FILES, writeReport } from '../bench/report.js';
import { checkOutputFolder } from './files.js';
import { FULL_CONFIG, runBench, SUITES, TINY_CONFIG, type BenchConfig, type SuiteName } from '../bench/suite.js';

const PRESETS: Record<string, BenchConfig> = { full: FULL_CONFIG, tiny: TINY_CONFIG };

/** Exact timestamps: Dawn otherwise rounds them (to about 0.13 ms on lavapipe). */
const DISABLED_TOGGLES = ['timestamp_quantization'];

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function parseSuites(v: string): SuiteName[] {
  const names = list(v);
  const bad = names.find((s) => !(SUITES as readonly string[]).includes(s));
  if (bad || !names.length)
    throw new Error(`--suites takes a comma-separated subset of ${SUITES.join(', ')}, got '${v}'`);
  return names as SuiteName[];
}

/** '16@32,32@16' → 16 channels at 32x32, 32 channels at 16x16. */
function parseConvShapes(v: string): ConvShape[] {
  return list(v).map((s) => {
    const m = /^(\d+)@(\d+)$/.exec(s);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
      throw new Error(`--conv-shapes takes CHANNELS@SIZE items like 16@32,32@16, got '${s}'`);
    return { C: Number(m[1]), H: Number(m[2]) };
  });
}

function parseMethods(v: string): string[] {
  const names = list(v);
  names.forEach(checkMethodName);
  return names;
}

const preset = '(default: from --preset)';

const BENCH_FLAGS = {
  out: {
    type: 'string',
    help: `report folder (${REPORT_FILES.join(', ')}); checked before the benchmark runs`,
    default: 'bench-out',
  },
  force: { type: 'boolean', help: 'let --out replace the report of an earlier benchmark' },
  preset: {
    type: 'string',
    help: 'sizes: full (WRN-16-1, batch 64, CIFAR shapes) or tiny (seconds)',
    default: 'full',
    parse: oneOf('preset', Object.keys(PRESETS)),
  },
  suites: { type: 'string', help: `comma-separated: ${SUITES.join(', ')} ${preset}`, parse: parseSuites },
  model: {
    type: 'string',
    help: `wrn-DEPTH-WIDTH for method costs and the peer step ${preset}`,
    parse: checkedBy(parseArch),
  },
  batch: { type: 'string', help: `minibatch size ${preset}`, parse: intFlag('batch', 1, 4096) },
  image: { type: 'string', help: `image side in pixels ${preset}`, parse: intFlag('image', 4, 512) },
  methods: { type: 'string', help: `comma-separated: ${METHOD_FORMS} ${preset}`, parse: parseMethods },
  eps: {
    type: 'string',
    help: 'L-inf radius of the adversarial methods',
    default: '8/255',
    parse: (v: string) => parsePixels('eps', v),
  },
  steps: {
    type: 'string',
    help: `timed minibatch steps per method and round ${preset}`,
    parse: intFlag('steps', 1, 10_000),
  },
  rounds: {
    type: 'string',
    help: `rounds timing every method in turn (the median round is reported) ${preset}`,
    parse: intFlag('rounds', 1, 100),
  },
  warmup: {
    type: 'string',
    help: `untimed warm-up runs before each measurement ${preset}`,
    parse: intFlag('warmup', 0, 100),
  },
  reps: {
    type: 'string',
    help: `timed repetitions per op and per peer step ${preset}`,
    parse: intFlag('reps', 1, 10_000),
  },
  'train-size': {
    type: 'string',
    help: `examples in a natural-equivalent epoch ${preset}`,
    parse: intFlag('train-size', 1),
  },
  matmul: { type: 'string', help: `n of the n^3 matmul case ${preset}`, parse: intFlag('matmul', 1, 8192) },
  'conv-batch': { type: 'string', help: `batch of the conv cases ${preset}`, parse: intFlag('conv-batch', 1, 4096) },
  'conv-shapes': {
    type: 'string',
    help: `conv cases as CHANNELS@SIZE, e.g. 16@32,32@16,64@8 ${preset}`,
    parse: parseConvShapes,
  },
  seed: { type: 'string', help: 'seed of weights and data', default: '0', parse: intFlag('seed', 0, 2 ** 31 - 1) },
  'no-profile': { type: 'boolean', help: 'no timestamp profiling: wall times only' },
  'memory-model': {
    type: 'string',
    help: `wrn-DEPTH-WIDTH of the memory check ${preset}`,
    parse: checkedBy(parseArch),
  },
  'memory-batch': {
    type: 'string',
    help: `batch of the memory check ${preset}`,
    parse: intFlag('memory-batch', 1, 4096),
  },
} satisfies FlagSet;

export const bench = command({
  name: 'bench',
  summary:
    "benchmark kernels, training methods, each model's training step, TensorFlow.js and PyTorch on this adapter; writes a report folder",
  flags: BENCH_FLAGS,
  async run(flags) {
    const out = flags.out;
    checkOutputFolder('bench', '--out', out, { files: [...REPORT_FILES], force: !!flags.force });
    const backend = flags.backend ?? process.env.ADVFREE_BACKEND;
    const adapter = flags.adapter ?? process.env.ADVFREE_ADAPTER;
    const config = configFromFlags(flags, [
      ...(backend ? [`backend=${backend}`] : []),
      ...(adapter ? [`adapter=${adapter}`] : []),
      `disable-dawn-features=${DISABLED_TOGGLES.join(',')}`,
    ]);
    const r = await init({ backend, adapter, disableToggles: DISABLED_TOGGLES });
    if (config.profile && !r.gpu.hasFeature('timestamp-query')) {
      console.error(`advfree bench: adapter '${r.gpu.name}' has no timestamp-query feature: wall times only`);
      config.profile = false;
    }
    try {
      const report = await runBench(config, benchEnv(r, DISABLED_TOGGLES), (line) =>
        console.error(`advfree bench: ${line}`),
      );
      for (const path of await writeReport(out, report)) console.log(path);
    } finally {
      shutdown();
    }
    return 0;
  },
});

function configFromFlags(flags: Values<typeof BENCH_FLAGS>, peerFlags: string[]): BenchConfig {
  const base = PRESETS[flags.preset];
  return {
    suites: flags.suites ?? base.suites,
    arch: flags.model ?? base.arch,
    batch: flags.batch ?? base.batch,
    image: flags.image ?? base.image,
    methods: flags.methods ?? base.methods,
    eps: flags.eps,
    steps: flags.steps ?? base.steps,
    rounds: flags.rounds ?? base.rounds,
    warmup: flags.warmup ?? base.warmup,
    reps: flags.reps ?? base.reps,
    trainSize: flags['train-size'] ?? base.trainSize,
    matmul: flags.matmul ?? base.matmul,
    convBatch: flags['conv-batch'] ?? base.convBatch,
    convShapes: flags['conv-shapes'] ?? base.convShapes,
    seed: flags.seed,
    profile: !flags['no-profile'],
    peerFlags,
    memoryArch: flags['memory-model'] ?? base.memoryArch,
    memoryBatch: flags['memory-batch'] ?? base.memoryBatch,
    rooflineIters: base.rooflineIters,
    copyBytes: base.copyBytes,
    modelCases: base.modelCases,
    modelMethods: base.modelMethods,
    overheadDispatches: base.overheadDispatches,
  };
}
