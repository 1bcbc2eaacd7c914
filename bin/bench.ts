// `advfree bench`: runs the benchmark suite and writes report.md, report.json and the families chart to --out.
// Sizes come from a preset (full: the WRN-16-1 / batch 64 run; tiny: seconds, for smoke tests), and any
// flag overrides its preset value.
import { init, shutdown } from '../engine/index.js';
import { parsePixels } from '../adversarial/units.js';
import { parseArch } from '../nn/models/wrn.js';
import { intFlag, oneOf, parsedBy, type Command, type Flags } from './args.js';
import { benchEnv } from '../bench/env.js';
import { checkMethodName, METHOD_FORMS } from '../bench/methods.js';
import type { ConvShape } from '../bench/op-cases.js';
import { REPORT_FILES, writeReport } from '../bench/report.js';
import { checkOutputFolder } from './files.js';
import { FULL_CONFIG, runBench, SUITES, TINY_CONFIG, type BenchConfig, type SuiteName } from '../bench/suite.js';

const PRESETS: Record<string, BenchConfig> = { full: FULL_CONFIG, tiny: TINY_CONFIG };

/** Exact timestamps: Dawn otherwise rounds them (to about 0.13 ms on lavapipe). */
const DISABLED_TOGGLES = ['timestamp_quantization'];


const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

function parseSuites(v: string): SuiteName[] {
  const names = list(v);
  const bad = names.find((s) => !(SUITES as readonly string[]).includes(s));
  if (bad || !names.length) throw new Error(`--suites takes a comma-separated subset of ${SUITES.join(', ')}, got '${v}'`);
  return names as SuiteName[];
}

/** '16@32,32@16' → 16 channels at 32x32, 32 channels at 16x16. */
function parseConvShapes(v: string): ConvShape[] {
  return list(v).map((s) => {
    const m = /^(\d+)@(\d+)$/.exec(s);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`--conv-shapes takes CHANNELS@SIZE items like 16@32,32@16, got '${s}'`);
    return { C: Number(m[1]), H: Number(m[2]) };
  });
}

function parseMethods(v: string): string[] {
  const names = list(v);
  names.forEach(checkMethodName);
  return names;
}

const preset = '(default: from --preset)';

export const bench: Command = {
  name: 'bench',
  summary: 'benchmark kernels, training methods and TensorFlow.js on this adapter; writes a report folder',
  flags: {
    out: { type: 'string', help: `report folder (${REPORT_FILES.join(', ')}); checked before the benchmark runs`, default: 'bench-out' },
    force: { type: 'boolean', help: 'let --out replace the report of an earlier benchmark' },
    preset: { type: 'string', help: 'sizes: full (WRN-16-1, batch 64, CIFAR shapes) or tiny (seconds)', default: 'full', check: oneOf('preset', Object.keys(PRESETS)) },
    suites: { type: 'string', help: `comma-separated: ${SUITES.join(', ')} ${preset}`, check: parsedBy(parseSuites) },
    model: { type: 'string', help: `wrn-DEPTH-WIDTH for method costs and the peer step ${preset}`, check: parsedBy(parseArch) },
    batch: { type: 'string', help: `minibatch size ${preset}`, check: intFlag('batch', 1, 4096) },
    image: { type: 'string', help: `image side in pixels ${preset}`, check: intFlag('image', 4, 512) },
    methods: { type: 'string', help: `comma-separated: ${METHOD_FORMS} ${preset}`, check: parsedBy(parseMethods) },
    eps: { type: 'string', help: 'L-inf radius of the adversarial methods', default: '8/255', check: parsedBy((v) => parsePixels('eps', v)) },
    steps: { type: 'string', help: `timed minibatch steps per method ${preset}`, check: intFlag('steps', 1, 10_000) },
    warmup: { type: 'string', help: `untimed warm-up runs before each measurement ${preset}`, check: intFlag('warmup', 0, 100) },
    reps: { type: 'string', help: `timed repetitions per op and per peer step ${preset}`, check: intFlag('reps', 1, 10_000) },
    'train-size': { type: 'string', help: `examples in a natural-equivalent epoch ${preset}`, check: intFlag('train-size', 1) },
    matmul: { type: 'string', help: `n of the n^3 matmul case ${preset}`, check: intFlag('matmul', 1, 8192) },
    'conv-batch': { type: 'string', help: `batch of the conv cases ${preset}`, check: intFlag('conv-batch', 1, 4096) },
    'conv-shapes': { type: 'string', help: `conv cases as CHANNELS@SIZE, e.g. 16@32,32@16,64@8 ${preset}`, check: parsedBy(parseConvShapes) },
    seed: { type: 'string', help: 'seed of weights and data', default: '0', check: intFlag('seed', 0, 2 ** 31 - 1) },
    'no-profile': { type: 'boolean', help: 'no timestamp profiling: wall times only' },
    'memory-model': { type: 'string', help: `wrn-DEPTH-WIDTH of the memory check ${preset}`, check: parsedBy(parseArch) },
    'memory-batch': { type: 'string', help: `batch of the memory check ${preset}`, check: intFlag('memory-batch', 1, 4096) },
  },
  async run(flags) {
    const out = flags.out as string;
    checkOutputFolder('bench', '--out', out, { files: [...REPORT_FILES], force: !!flags.force });
    const backend = (flags.backend as string | undefined) ?? process.env.ADVFREE_BACKEND;
    const adapter = (flags.adapter as string | undefined) ?? process.env.ADVFREE_ADAPTER;
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
      const report = await runBench(config, benchEnv(r, DISABLED_TOGGLES), (line) => console.error(`advfree bench: ${line}`));
      for (const path of await writeReport(out, report)) console.log(path);
    } finally {
      shutdown();
    }
    return 0;
  },
};

function configFromFlags(flags: Flags, peerFlags: string[]): BenchConfig {
  const base = PRESETS[flags.preset as string];
  const str = (k: string) => flags[k] as string | undefined;
  const int = (k: string, fallback: number) => (str(k) === undefined ? fallback : Number(str(k)));
  return {
    suites: str('suites') ? parseSuites(str('suites')!) : base.suites,
    arch: str('model') ?? base.arch,
    batch: int('batch', base.batch),
    image: int('image', base.image),
    methods: str('methods') ? parseMethods(str('methods')!) : base.methods,
    eps: parsePixels('eps', str('eps')!),
    steps: int('steps', base.steps),
    warmup: int('warmup', base.warmup),
    reps: int('reps', base.reps),
    trainSize: int('train-size', base.trainSize),
    matmul: int('matmul', base.matmul),
    convBatch: int('conv-batch', base.convBatch),
    convShapes: str('conv-shapes') ? parseConvShapes(str('conv-shapes')!) : base.convShapes,
    seed: int('seed', base.seed),
    profile: !flags['no-profile'],
    peerFlags,
    memoryArch: str('memory-model') ?? base.memoryArch,
    memoryBatch: int('memory-batch', base.memoryBatch),
    rooflineIters: base.rooflineIters,
    copyBytes: base.copyBytes,
  };
}
