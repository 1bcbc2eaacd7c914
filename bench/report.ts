// The suite's results as files: report.md (tables), report.json (everything measured) and the chart families.png
// (with families.svg and its Vega-Lite spec families.vl.json: GPU time per SGD step by kernel family, per method).
// Every file names the adapter, driver and commit.
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../nn/atomic.js';
import { join } from 'node:path';
import type { KernelFamily } from '../engine/kernel.js';
import { stackedBarSpec } from '../plot/bar-chart.js';
import { chartFiles, writeChart } from '../plot/render.js';
import type { ChartSpec } from '../plot/spec.js';
import type { Timing } from '../engine/profile.js';
import type { MethodCost } from './method-cost.js';
import { TOLERANCE } from './peer.js';
import { ceilingFraction, type Roofline } from './roofline.js';
import { FLOOR, PEER_FACTOR } from './step-agreement.js';
import type { BenchReport } from './suite.js';

const FAMILIES: KernelFamily[] = [
  'conv-forward',
  'conv-input-grad',
  'conv-weight-grad',
  'matmul',
  'weight-grad',
  'batchnorm',
  'elementwise',
  'reduction',
  'loss',
  'optimizer',
  'random',
  'roofline',
];

const NA = '–';
/** Three significant digits. */
const num = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? NA : String(Number(v.toPrecision(3)));
const times = (v: number | null): string => (v === null ? NA : `${v.toFixed(2)}×`);
const pct = (v: number | null): string => (v === null ? NA : `${(100 * v).toFixed(1)}%`);
const gflops = (flops: number, ms: number | null): string => (ms && flops ? num(flops / ms / 1e6) : NA);
const sci = (v: number): string => (Number.isNaN(v) ? 'NaN' : v.toExponential(1));
const verdict = (err: number): string => `${sci(err)} ${err <= TOLERANCE ? 'ok' : 'FAIL'}`;

const share = (v: number): string => `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`;

/** '12% FMA (60% fed)' or '40% BW': a timing against the ceiling its kernels are bound by. */
function ceiling(t: Timing, roof: Roofline): string {
  const f = ceilingFraction(t, roof);
  if (!f) return NA;
  return f.bound === 'fma' ? `${share(f.fraction)} FMA (${share(f.rate / roof.fed)} fed)` : `${share(f.fraction)} BW`;
}

/** GFLOP/s or GB/s, whichever the kernels declare. */
function rate(t: Timing, roof: Roofline): string {
  const f = ceilingFraction(t, roof);
  return f ? `${num(f.rate)} ${f.bound === 'fma' ? 'GFLOP/s' : 'GB/s'}` : NA;
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function header(r: BenchReport): string {
  const e = r.env;
  const rows = [
    ['adapter', e.adapter],
    ['driver', e.driver],
    ['backend', `${e.backend}${e.software ? ' (software adapter)' : ''}`],
    ['commit', e.commit],
    ['Dawn', `${e.dawn}; disabled toggles: ${e.disabledToggles.join(', ') || 'none'}`],
    ['Node', e.node],
    ['date', e.date],
  ];
  if (r.peer) rows.push(['peer', `${r.peer.version} on ${r.peer.adapter}`]);
  return [
    '# advfree benchmark',
    table(['', ''], rows),
    `Wall times: median over ${r.config.reps} waited-for repetitions (method costs: the median of ${r.config.rounds} rounds, each ` +
      `timing every method in turn for ${r.config.steps} minibatch steps, more for the small models, submitted as in training, ` +
      'then one wait). GPU times: sum of per-dispatch timestamps from separate profiled rounds (each dispatch in its own ' +
      'compute pass, submits batched as in training). GFLOP/s count 2 FLOPs per ' +
      'multiply-add; a convolution pass counts 2·N·OH·OW·Cout·C·kH·kW. Bytes count the global-memory reads and writes ' +
      'each memory-bound kernel makes by design (engine/ops/*.ts declare both beside each kernel).',
  ].join('\n\n');
}

function rooflineSection(r: BenchReport): string {
  const roof = r.roofline;
  return [
    '## Ceilings of this adapter (measured in this run)',
    `FMA ceiling **${num(roof.gflops)} GFLOP/s**: independent fma chains in registers, no memory traffic, best of the shapes ` +
      `below. Bandwidth ceiling **${num(roof.gbs)} GB/s**: a vec4 copy, best of the sizes below (bytes read + written). ` +
      'Wall time per dispatch, median of ' +
      `${r.config.reps} alternating repetitions. Every kernel below is shown as a ` +
      'fraction of the ceiling it is bound by: "% FMA" for kernels that declare FLOPs (GEMM-like), "% BW" for kernels that ' +
      'declare bytes (batch norm, elementwise, reductions, optimizer). ' +
      `Fed ceiling **${num(roof.fed)} GFLOP/s** (${num(roof.fed4)} with vec4 pixel loads): the conv kernels' own inner loop, a ` +
      'register block fed by per-invocation gathers and workgroup-uniform weight loads from a buffer in cache, without ' +
      'their index arithmetic; what a kernel of that structure can reach here. GEMM-like kernels also show "% fed".',
    table(
      ['probe', 'GFLOP', 'MB', 'ms', 'rate'],
      roof.probes.map((p) => [
        p.name,
        num(p.flops / 1e9),
        num(p.bytes / 1e6),
        num(p.ms),
        p.flops ? `${num(p.rate)} GFLOP/s` : `${num(p.rate)} GB/s`,
      ]),
    ),
  ].join('\n\n');
}

function opsSection(r: BenchReport): string {
  if (!r.ops) return '';
  const peer = new Map((r.peer?.ops ?? []).map((p) => [p.name, p]));
  const rows = r.ops.map((o) => {
    const p = peer.get(o.name);
    return [
      o.name,
      num(o.flops / 1e9),
      num(o.wall.ms),
      num(o.gpuMs),
      gflops(o.flops, o.wall.ms),
      gflops(o.flops, o.gpuMs),
      ...(r.peer
        ? [
            num(p?.tfjs.wallMs),
            num(p?.tfjs.gpuMs),
            times(p?.ratioWall ?? null),
            times(p?.ratioGpu ?? null),
            p ? verdict(p.error) : NA,
          ]
        : []),
    ];
  });
  const head = [
    'case',
    'GFLOP',
    'wall ms',
    'GPU ms',
    'GFLOP/s (wall)',
    'GFLOP/s (GPU)',
    ...(r.peer
      ? ['tfjs wall ms', 'tfjs GPU ms', 'tfjs/ours wall', 'tfjs/ours GPU', `max diff (tol ${TOLERANCE})`]
      : []),
  ];
  const kernels = r.ops.flatMap((o) =>
    Object.entries(o.kernels).map(([k, t]) => [
      o.name,
      k,
      num(t.dispatches),
      num(t.ms),
      rate(t, r.roofline),
      ceiling(t, r.roofline),
    ]),
  );
  return [
    '## Single ops',
    table(head, rows),
    kernels.length
      ? `### Per kernel (ours, per op)\n\n${table(['case', 'family/kernel', 'dispatches', 'GPU ms', 'rate', 'of ceiling'], kernels)}`
      : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}

/** GPU time per SGD step by family; without profiling, dispatches per minibatch by family. */
function familyTable(costs: readonly MethodCost[], roof: Roofline): string {
  const timed = costs[0].sgdStepGpuMs !== null;
  const present = FAMILIES.filter((f) => costs.some((c) => (timed ? c.byFamily[f] : c.dispatchesByFamily[f])));
  const cell = (c: MethodCost, f: KernelFamily) => {
    if (!timed) return num(c.dispatchesByFamily[f] ?? 0);
    const t = c.byFamily[f];
    return t ? `${num(t.ms)} (${pct(t.ms / c.sgdStepGpuMs!)}), ${ceiling(t, roof)}` : NA;
  };
  return [
    timed
      ? '### GPU time per SGD step by kernel family (ms, share of the step, fraction of the ceiling)'
      : '### Dispatches per minibatch by kernel family (no profiling)',
    table(
      ['method', ...present, timed ? 'total ms' : 'total'],
      costs.map((c) => [c.method, ...present.map((f) => cell(c, f)), num(timed ? c.sgdStepGpuMs : c.dispatches)]),
    ),
  ].join('\n\n');
}

function methodsSection(r: BenchReport): string {
  const m = r.methods;
  if (!m) return '';
  const c = r.config;
  const p = ({ passes: q }: MethodCost) =>
    `${num(q.forward)} / ${num(q.backwardWeights)} / ${num(q.backwardInputOnly)} / ${num(q.backwardSecondOrder)} / ${num(q.sgdSteps)}` +
    (q.partialForward || q.partialBackward
      ? ` (+ ${num(q.partialForward)} / ${num(q.partialBackward)} first-layer F/B)`
      : '');
  const rows = m.costs.map((x) => [
    x.method,
    p(x),
    num(x.dispatches),
    num(x.wallMs),
    num(x.gpuMs),
    num(x.sgdStepWallMs),
    num(x.sgdStepGpuMs),
    num(x.epochWallS),
    num(x.epochGpuS),
    times(x.ratioWall),
    times(x.ratioGpu),
  ]);
  const attacks = m.attacks.map((a) => [
    a.method,
    String(a.steps),
    num(a.inputOnly.wallMs),
    num(a.inputOnly.gpuMs),
    num(a.full.wallMs),
    num(a.full.gpuMs),
    pct(a.saving.wall),
    pct(a.saving.gpu),
    pct(a.attackShare),
  ]);
  const natural = m.costs[0];
  const topKernels = Object.entries(natural.byKernel)
    .sort(([, a], [, b]) => b.ms - a.ms)
    .map(([k, t]) => [
      k,
      num(t.dispatches),
      num(t.ms),
      pct(natural.sgdStepGpuMs ? t.ms / natural.sgdStepGpuMs : null),
      rate(t, r.roofline),
      ceiling(t, r.roofline),
    ]);
  return [
    `## Training methods: ${c.arch}, batch ${c.batch}, ${c.image}x${c.image}, eps ${num(c.eps * 255)}/255`,
    `A natural-equivalent epoch is ${m.stepsPerEpoch} SGD steps (${c.trainSize} examples / batch ${c.batch}); free-M takes them as ` +
      `${m.stepsPerEpoch}/M minibatches of M replays. Epoch times are projected from the measured steps; ratios are to natural in this run. ` +
      'Passes per minibatch: forward / backward with weight gradients / input-only backward / second-order backward (through ' +
      'a recorded input-gradient pass) / SGD steps (and passes through the first layer alone, YOPO).',
    table(
      [
        'method',
        'passes F/Bw/Bx/B2/SGD',
        'dispatches',
        'wall ms / minibatch',
        'GPU ms / minibatch',
        'wall ms / SGD step',
        'GPU ms / SGD step',
        'epoch wall s',
        'epoch GPU s',
        '× natural (wall)',
        '× natural (GPU)',
      ],
      rows,
    ),
    familyTable(m.costs, r.roofline),
    ...(attacks.length
      ? [
          '### Attack steps: input-only backward vs full backward',
          'Per attack step: (method − natural) / K. "full" also computes every weight gradient in the attack\'s backward pass ' +
            '(and discards it); the saving is what skipping those kernels buys. Attack share: fraction of the input-only ' +
            "method's GPU time spent in attack steps rather than in the SGD update.",
          table(
            [
              'method',
              'K',
              'input-only wall ms',
              'input-only GPU ms',
              'full wall ms',
              'full GPU ms',
              'saving (wall)',
              'saving (GPU)',
              'attack share (GPU)',
            ],
            attacks,
          ),
        ]
      : []),
    ...(topKernels.length
      ? [
          '### Kernels of one natural SGD step',
          table(['family/kernel', 'dispatches', 'GPU ms', 'share', 'rate', 'of ceiling'], topKernels),
        ]
      : []),
    ...(natural.sgdStepGpuMs !== null ? ['![GPU time per SGD step by kernel family](families.png)'] : []),
  ].join('\n\n');
}

function peerSection(r: BenchReport): string {
  const s = r.peer?.step;
  if (!s) return '';
  const k = s.check;
  return [
    `## Peer: one ${s.arch} training step at batch ${s.batch} (forward, input and weight gradients, SGD update)`,
    table(
      ['', 'ours', 'tfjs', 'tfjs/ours'],
      [
        ['wall ms', num(s.ours.wallMs), num(s.tfjs.wallMs), times(s.ratioWall)],
        ['GPU ms', num(s.ours.gpuMs), num(s.tfjs.gpuMs), times(s.ratioGpu)],
      ],
    ),
    s.pytorch.measured
      ? `PyTorch ${s.pytorch.version}'s CPU backend (${s.pytorch.threads} threads, bench/pytorch/wrn_step.py, the same step after ours in this run): ` +
        `${num(s.pytorch.wallMs)} ms wall; ours/PyTorch ${times(s.ours.wallMs / s.pytorch.wallMs)}.`
      : `PyTorch: not measured (${s.pytorch.reason}).`,
    'Agreement from identical weights and data, each fp32 engine against the exact step (float64 on the host, ' +
      "reference/f64-wrn.ts) taken on that engine's own ReLU masks: a pre-activation within rounding of 0 may " +
      'fall on either side in fp32, and such a flip alone moves a whole gradient by ~1/√(its size). The masks row ' +
      `checks the flips: ok when every activation where our mask differs from the exact sign has |z| ≤ ${sci(k.masks.bound)} ` +
      "of its layer's RMS (largest such |z|/rms shown). The other rows: relative error |a − b| / |b| for the loss, " +
      `‖a − b‖₂ / ‖b‖₂ per tensor otherwise, ok when ours ≤ max(${PEER_FACTOR} × tfjs, ${FLOOR.toExponential(0)}) for every ` +
      "tensor the row covers: tfjs's distance from the exact step is what fp32 achieves on this computation. The SGD " +
      "update (after − before) is judged against SGD applied in float64 to the engine's own gradients, with the fp32 " +
      'rounding of the stored weights (2·2⁻²⁴·‖after‖/‖update‖) also allowed. Per-parameter rows show the tensor nearest ' +
      'its bound; the last column is ours against tfjs (worst tensor).',
    table(
      ['quantity', 'ours vs float64', 'tfjs vs float64', 'bound', 'verdict', 'ours vs tfjs'],
      [
        [
          `ReLU masks (differing activations: ours ${k.masks.ours.flips}, tfjs ${k.masks.tfjs.flips} of ${k.masks.ours.total})`,
          sci(k.masks.ours.worst),
          sci(k.masks.tfjs.worst),
          sci(k.masks.bound),
          k.masks.ok ? 'ok' : 'FAIL',
          NA,
        ],
        ...k.rows.map((row) => [
          row.tensor ? `${row.quantity} (${row.tensor})` : row.quantity,
          sci(row.ours),
          sci(row.tfjs),
          sci(row.bound),
          row.ok ? 'ok' : 'FAIL',
          `${sci(row.peer.error)}${row.peer.tensor ? ` (${row.peer.tensor})` : ''}`,
        ]),
      ],
    ),
  ].join('\n\n');
}

function overheadSection(r: BenchReport): string {
  const o = r.overhead;
  if (!o) return '';
  return [
    '### Cost per dispatch on this adapter',
    `An empty-ish kernel (one workgroup copying 16 bytes), ${o.dispatches} dispatches a sample, median of ${r.config.reps}: microseconds per dispatch.`,
    table(
      [
        "recorded into the runtime's batches, one wait",
        'of which host recording',
        'a submit each, one wait',
        'a submit and a wait each',
        'GPU (timestamps)',
      ],
      [[num(o.batchedUs), num(o.recordUs), num(o.submitEachUs), num(o.submitWaitUs), num(o.gpuUs)]],
    ),
  ].join('\n\n');
}

function modelsSection(r: BenchReport): string {
  const ms = r.models;
  if (!ms) return '';
  const torch = ms.find((m) => m.torch.measured)?.torch;
  const steps = ms.map((m) => [
    `${m.model} (${m.data} [${m.input.join(',')}], ${m.classes} classes)`,
    String(m.batch),
    num(m.wallMs),
    num(m.gpuMs),
    pct(m.gpuBusy),
    num(m.dispatches),
    num(m.submits),
    num(m.reads),
    `${num(m.host.recordMs)} (${num(m.host.bindGroups)} / ${num(m.host.encode)} / ${num(m.host.submit)} / ${num(m.host.pool)})`,
    m.torchMs === null ? NA : num(m.torchMs),
    m.torchMs === null ? NA : times(m.wallMs / m.torchMs),
  ]);
  const missing = ms.flatMap((m) => (m.torch.measured ? [] : [`${m.model}: ${m.torch.reason}`]));
  const methods = ms.flatMap((m) =>
    m.methods.costs.map((c) => [
      m.model,
      c.method,
      num(c.dispatches),
      num(c.sgdStepWallMs),
      num(c.sgdStepGpuMs),
      times(c.ratioWall),
      times(c.ratioGpu),
    ]),
  );
  return [
    '## Models: one natural training step of each model at its batch',
    'The step as training runs it (forward, weight gradients, SGD update with momentum; steps submitted back to back, one ' +
      "wait at the end), on synthetic inputs of the dataset's shape. GPU busy: GPU time (timestamps) over wall time. Host: " +
      "milliseconds per step spent recording it (the steps return before the GPU finishes), and of those the runtime's bind " +
      "groups / encoding / submits / buffer pool; the rest is the ops' and the tape's own code. " +
      (torch?.measured
        ? `PyTorch ${torch.version}'s CPU backend: the same layers, batch and step, ${torch.threads} threads (bench/pytorch/model_step.py), after ours in this run.`
        : ''),
    table(
      [
        'model',
        'batch',
        'wall ms',
        'GPU ms',
        'GPU busy',
        'dispatches',
        'submits',
        'readbacks',
        'host ms (bind groups / encode / submit / pool)',
        'PyTorch ms',
        'ours / PyTorch',
      ],
      steps,
    ),
    ...(missing.length ? [`PyTorch not measured: ${missing.join('; ')}.`] : []),
    overheadSection(r),
    '### Methods on each model: per SGD step, ratios to natural per natural-equivalent epoch',
    table(
      [
        'model',
        'method',
        'dispatches / minibatch',
        'wall ms / SGD step',
        'GPU ms / SGD step',
        '× natural (wall)',
        '× natural (GPU)',
      ],
      methods,
    ),
  ].join('\n\n');
}

function memorySection(r: BenchReport): string | null {
  const m = r.memory;
  if (!m) return null;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return [
    `## Memory: one training step of ${m.arch}, batch ${m.batch}`,
    '',
    'Must be live: weights, their gradients, momenta, the input batch and its gradient, and the activations the forward pass leaves for the backward.',
    '',
    '| weights | activations | must be live | peak in use | pool allocated | peak / must be live |',
    '| --- | --- | --- | --- | --- | --- |',
    `| ${mb(m.weightBytes)} | ${mb(m.activationBytes)} | ${mb(m.mustBeLive)} | ${mb(m.peakInUse)} | ${mb(m.allocated)} | ${m.ratio.toFixed(2)}× |`,
  ].join('\n');
}

export function markdown(r: BenchReport): string {
  return (
    [
      header(r),
      rooflineSection(r),
      opsSection(r),
      methodsSection(r),
      modelsSection(r),
      peerSection(r),
      memorySection(r),
    ]
      .filter(Boolean)
      .join('\n\n') + '\n'
  );
}

/** The per-family chart, or null without GPU times. */
export function familyChart(r: BenchReport): ChartSpec | null {
  const costs = r.methods?.costs;
  if (!costs?.length || costs[0].sgdStepGpuMs === null) return null;
  const present = FAMILIES.filter((f) => costs.some((c) => c.byFamily[f]));
  const bars = costs.map((c) => ({
    label: c.method,
    values: Object.fromEntries(present.map((f) => [f, c.byFamily[f]?.ms ?? 0])),
    note: `${num(c.sgdStepGpuMs)} ms ${times(c.ratioGpu)}`,
  }));
  const e = r.env;
  const title = [
    `GPU ms per SGD step by kernel family, ${r.config.arch} batch ${r.config.batch}`,
    `adapter: ${e.adapter}`,
    `driver: ${e.driver}`,
    `commit: ${e.commit}`,
  ];
  return stackedBarSpec(title, 'GPU ms per SGD step', bars, present);
}

/** The files of a report folder: report.md, report.json and (with GPU times) the families chart's PNG, SVG and spec. */
export const REPORT_FILES = ['report.md', 'report.json', ...Object.values(chartFiles('families.png'))];

/** Writes report.md, report.json and (with GPU times) the families chart into `dir`, each atomically; returns the paths written. */
export async function writeReport(dir: string, r: BenchReport): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, data] of [
    ['report.md', markdown(r)],
    ['report.json', JSON.stringify(r, null, 2) + '\n'],
  ] as const) {
    await writeFileAtomic(join(dir, name), data);
    written.push(join(dir, name));
  }
  const chart = familyChart(r);
  if (!chart) return written;
  const files = chartFiles(join(dir, 'families.png'));
  await writeChart(files.png, chart);
  return [...written, files.png, files.svg, files.spec];
}
