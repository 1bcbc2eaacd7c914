// The benchmark suite's plumbing on a tiny model: FLOPs and bytes the profiler attributes to known ops (counted
// by hand), one run of every suite with its pass and dispatch counts, its ratios checked against what the
// methods do (dispatch counts) and its ceilings against the kernels they bound, and the report files.
import { suite } from 'uvu';
import { noPasses } from '../adversarial/method.js';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  batchNorm,
  conv2d,
  conv2dInputGrad,
  conv2dWeightGrad,
  matmul,
  randomNormal,
  relu,
  rt,
  sgdStep,
  tidy,
  zeros,
} from '../engine/index.js';
import { profile } from '../engine/profile.js';
import { benchEnv } from '../bench/env.js';
import { checkMethodName } from '../bench/methods.js';
import { summarize, type MeasuredCost, type MethodCost } from '../bench/method-cost.js';
import { TOLERANCE } from '../bench/peer.js';
import type { AgreementRow } from '../bench/step-agreement.js';
import { markdown, writeReport } from '../bench/report.js';
import { ceilingFraction } from '../bench/roofline.js';
import { runBench, TINY_CONFIG, type BenchReport } from '../bench/suite.js';
import type { KernelFamily } from '../engine/kernel.js';
import { assertThrows, ready } from './helpers.js';
import { darkPixels, readChart } from './chart-files.js';

const t = suite('bench');
t.before(ready);

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

t('the profiler counts a convolution pass as 2·N·OH·OW·Cout·C·kH·kW FLOPs, a matmul as 2·M·N·K', async () => {
  // x [2,3,5,7], w [4,3,3,3], stride 2, padding 1: OH = (5 + 2 - 3) / 2 + 1 = 3, OW = (7 + 2 - 3) / 2 + 1 = 4,
  // so 2·2·3·4 · 4·3 · 3·3 = 5184 for each pass.
  const t0 = performance.now();
  const p = await profile(() =>
    tidy(() => {
      const x = randomNormal([2, 3, 5, 7], 0, 1, 1);
      const w = randomNormal([4, 3, 3, 3], 0, 1, 2);
      const dy = randomNormal([2, 4, 3, 4], 0, 1, 3);
      const opts = { stride: 2, padding: 1 };
      conv2d(x, w, opts);
      conv2dInputGrad(dy, w, x.shape, opts);
      conv2dWeightGrad(dy, x, w.shape, opts);
      matmul(randomNormal([6, 5], 0, 1, 4), randomNormal([5, 3], 0, 1, 5));
    }),
  );
  assert.is(p.byFamily['conv-forward']?.flops, 5184);
  assert.is(p.byFamily['conv-input-grad']?.flops, 5184);
  assert.is(p.byFamily['conv-weight-grad']?.flops, 5184);
  assert.is(p.byFamily.matmul?.flops, 2 * 6 * 3 * 5);
  assert.is(p.byFamily.random?.flops, 0, 'no FLOPs defined for the fills');
  assert.is(p.byFamily.random?.dispatches, 5);
  assert.is(p.dispatches, 9);
  assert.is(p.flops, 3 * 5184 + 180);
  // The dispatches run one after another inside the profiled call, so their GPU time cannot exceed its wall time
  // (timestamps in the wrong unit or from another clock would).
  const wall = performance.now() - t0;
  assert.ok(p.ms > 0 && p.ms <= wall, `GPU time ${p.ms} ms within the ${wall} ms around it`);
});

t('the profiler counts the bytes memory-bound kernels move: batch norm, ReLU, SGD, fills', async () => {
  // x [2,3,4,5]: 120 floats. Training batch norm: statistics read x twice (960 bytes), normalize reads x and
  // writes y (960). ReLU reads and writes 120 floats (960). SGD on 10 floats reads param, grad and momentum and
  // writes param and momentum: 5·4·10 = 200. Fills write: 120 + 3 + 3 + 3 + 3 + 10 + 10 + 10 floats.
  const p = await profile(() =>
    tidy(() => {
      const x = randomNormal([2, 3, 4, 5], 0, 1, 1);
      const [g, b, m, v] = [1, 2, 3, 4].map((s) => randomNormal([3], 0, 1, s));
      relu(batchNorm(x, g, b, { runningMean: m, runningVar: v }, { training: true }));
      sgdStep(zeros([10]), randomNormal([10], 0, 1, 5), zeros([10]), { lr: 0.1, momentum: 0.9 });
    }),
  );
  assert.is(p.byFamily.batchnorm?.bytes, 1920);
  assert.is(p.byFamily.elementwise?.bytes, 960);
  assert.is(p.byFamily.optimizer?.bytes, 200);
  assert.is(p.byFamily.random?.bytes, 4 * (120 + 4 * 3 + 3 * 10));
  assert.is(p.flops, 0, 'none of these declares FLOPs');
});

const byName = (r: BenchReport, name: string): MethodCost => r.methods!.costs.find((c) => c.method === name)!;

let report: BenchReport;

t('one tiny run of every suite: FLOPs, passes, dispatches and ratios from the same run', async () => {
  report = await runBench(TINY_CONFIG, benchEnv(rt(), []));

  // The roofline probes: 2·chains·iters FLOPs per invocation over 16384 invocations; a 1 MiB copy moves 2 MiB.
  const probes = new Map(report.roofline.probes.map((p) => [p.name, p]));
  assert.is(probes.get('fma 32 chains, workgroup 64')!.flops, 2 * 32 * TINY_CONFIG.rooflineIters * 16384);
  assert.is(probes.get('fma 16 chains, workgroup 256')!.flops, 2 * 16 * TINY_CONFIG.rooflineIters * 16384);
  assert.is(probes.get('copy 1 MiB (vec4)')!.bytes, 2 * 2 ** 20);
  // The fed probes: 2·PB·CB FLOPs per step, iters / 8 steps (16 / 8 = 2), 16384 invocations.
  assert.is(probes.get('fed 8x16 block, scalar gathers')!.flops, 2 * 8 * 16 * 2 * 16384);
  assert.is(probes.get('fed 4x8 block, vec4 pixel loads')!.flops, 2 * 4 * 8 * 2 * 16384);
  assert.ok(report.roofline.fed > 0 && report.roofline.fed4 > 0);
  assert.ok(report.roofline.gflops > 0 && report.roofline.gbs > 0);

  // Single ops: 2·64³ for the matmul; 2·2·8·8·4·4·9 = 36864 for each conv pass at N2 8x8 4->4.
  const ops = new Map(report.ops!.map((o) => [o.name, o]));
  assert.is(ops.get('matmul 64^3')!.kernels['matmul/matmul'].flops, 524_288);
  assert.is(ops.get('conv-forward N2 8x8 4->4')!.kernels['conv-forward/conv2d'].flops, 36_864);
  assert.is(ops.get('conv-input-grad N2 8x8 4->4')!.kernels['conv-input-grad/conv2d'].flops, 36_864);
  assert.is(ops.get('conv-weight-grad N2 8x8 4->4')!.kernels['conv-weight-grad/conv2d_wgrad'].flops, 36_864);

  // A ceiling bounds what it measures: no GEMM-like kernel of the run beats the FMA probe (the margin allows
  // for a machine shared with other processes between the two measurements).
  for (const o of report.ops!) {
    for (const [k, timing] of Object.entries(o.kernels)) {
      const f = ceilingFraction(timing, report.roofline);
      if (f?.bound === 'fma')
        assert.ok(f.fraction < 2, `${o.name} ${k}: ${f.rate} GFLOP/s against a ceiling of ${report.roofline.gflops}`);
    }
  }

  const m = report.methods!;
  assert.equal(
    m.costs.map((c) => c.method),
    TINY_CONFIG.methods,
  );
  assert.is(m.stepsPerEpoch, 16, '64 examples / batch 4');
  const natural = byName(report, 'natural');
  // Timings of this tiny run are noise on a shared machine: only that they were taken is checked here (the
  // arithmetic on them is checked on known values below).
  for (const c of m.costs) {
    assert.ok(c.sgdStepWallMs > 0 && c.sgdStepGpuMs! > 0, `${c.method} was timed`);
    // The profiler timed every dispatch the runtime counted, family by family (its run repeats the same steps).
    const timed = Object.fromEntries(Object.entries(c.byFamily).map(([k, f]) => [k, f!.dispatches * c.replays]));
    assert.equal(
      Object.keys(timed).sort(),
      Object.keys(c.dispatchesByFamily).sort(),
      `${c.method}: the same kernel families`,
    );
    for (const [k, n] of Object.entries(c.dispatchesByFamily)) close(timed[k], n, `${c.method} ${k} dispatches`);
  }

  assert.equal(natural.passes, { ...noPasses(), forward: 1, backwardWeights: 1, backwardInputOnly: 0, sgdSteps: 1 });
  assert.equal(byName(report, 'free-2').passes, {
    ...noPasses(),
    forward: 2,
    backwardWeights: 2,
    backwardInputOnly: 0,
    sgdSteps: 2,
  });
  assert.equal(byName(report, 'pgd-2').passes, {
    ...noPasses(),
    forward: 3,
    backwardWeights: 1,
    backwardInputOnly: 2,
    sgdSteps: 1,
  });
  assert.equal(byName(report, 'pgd-2-full').passes, {
    ...noPasses(),
    forward: 3,
    backwardWeights: 3,
    backwardInputOnly: 0,
    sgdSteps: 1,
  });
  assert.equal(byName(report, 'fgsm-rs').passes, {
    ...noPasses(),
    forward: 2,
    backwardWeights: 1,
    backwardInputOnly: 1,
    sgdSteps: 1,
  });

  // Input-only attack steps dispatch no weight-gradient kernel: only the update step's remain.
  const wgrad = (name: string) => byName(report, name).dispatchesByFamily['conv-weight-grad']!;
  assert.ok(wgrad('natural') > 0);
  assert.is(wgrad('pgd-2'), wgrad('natural'));
  assert.is(wgrad('fgsm-rs'), wgrad('natural'));
  assert.is(wgrad('pgd-2-full'), 3 * wgrad('natural'));
  assert.is(wgrad('free-2'), 2 * wgrad('natural'));

  assert.is(m.attacks.length, 1);
  const a = m.attacks[0];
  assert.is(a.method, 'pgd-2');

  // The peer computes the same numbers, and its ratios come from this run's times.
  const p = report.peer!;
  for (const o of p.ops) assert.ok(o.error <= TOLERANCE, `${o.name}: tfjs differs by ${o.error}`);
  // The training step: our masks right up to rounding, and ours within the bound fp32 allows (twice tfjs's error
  // against float64, at least 1e-4) on every row, and still within the single-op tolerance of tfjs on this tiny model.
  const { masks, rows } = p.step.check;
  assert.ok(
    masks.ok && masks.ours.total > 0,
    `our ReLU masks differ from float64's signs up to ${masks.ours.worst} of rms`,
  );
  assert.equal(
    rows.map((r) => r.quantity),
    ['loss', 'input gradient', 'weight gradient', 'SGD update'],
  );
  for (const r of rows) {
    assert.ok(
      r.ok,
      `training step, ${r.quantity}${r.tensor ? ` (${r.tensor})` : ''}: ours ${r.ours} vs float64, tfjs ${r.tfjs}, bound ${r.bound}`,
    );
    assert.ok(r.peer.error <= TOLERANCE, `training step, ${r.quantity}: tfjs differs from ours by ${r.peer.error}`);
  }
  // The models suite: each tiny model's natural step and its methods, in order, with counts from the same run.
  const models = report.models!;
  assert.equal(
    models.map((x) => [x.model, x.batch]),
    TINY_CONFIG.modelCases.map((c) => [c.model, c.batch]),
  );
  for (const x of models) {
    assert.equal(
      x.methods.costs.map((c) => c.method),
      TINY_CONFIG.modelMethods,
    );
    const natural = x.methods.costs[0];
    assert.is(x.dispatches, natural.dispatches);
    assert.ok(
      x.wallMs > 0 && x.gpuMs! > 0 && x.host.recordMs > 0 && x.submits >= 1 && x.reads === 0,
      `${x.model}: ${JSON.stringify(x)}`,
    );
    close(x.gpuBusy!, x.gpuMs! / x.wallMs, `${x.model}: GPU busy`);
    // Every ReLU of these models is fused into its layer and the flatten is a view: no elementwise unary pass.
    assert.is(
      natural.byKernel['elementwise/unary'],
      undefined,
      `${x.model}: ${Object.keys(natural.byKernel).join(', ')}`,
    );
    // The second-order methods dispatch more than a natural step; free-2 replays twice.
    const by = (name: string) => x.methods.costs.find((c) => c.method === name)!;
    assert.ok(by('gradalign').dispatches > by('gradnorm').dispatches && by('gradnorm').dispatches > natural.dispatches);
    assert.is(by('free-2').replays, 2);
    if (x.torch.measured) assert.is(x.torchMs, x.torch.wallMs);
    else assert.ok(x.torchMs === null && /python3|torch/.test(x.torch.reason), x.torch.reason);
  }
  const o = report.overhead!;
  assert.ok(
    o.dispatches === TINY_CONFIG.overheadDispatches &&
      o.recordUs > 0 &&
      o.batchedUs >= o.recordUs &&
      o.submitWaitUs > 0 &&
      o.gpuUs! > 0,
    JSON.stringify(o),
  );
  assert.ok(markdown(report).includes('## Models: one natural training step'), 'the report has the models section');

  // PyTorch, where this machine has it: a time, or why there is none; the report says which.
  const pt = p.step.pytorch;
  if (pt.measured) assert.ok(pt.wallMs > 0 && pt.threads > 0 && /^\d+\./.test(pt.version), JSON.stringify(pt));
  else assert.match(pt.reason, /python3|torch/);
  assert.match(
    markdown(report),
    pt.measured ? /PyTorch [\d.]+\S*'s CPU backend \(\d+ threads.*ours\/PyTorch \d/ : /PyTorch: not measured \(/,
  );
});

t('method costs from known times: per SGD step, epoch projections, ratios to natural, attack steps', () => {
  const cost = (method: string, replays: number, wallMs: number, gpuMs: number) =>
    ({
      method,
      replays,
      wallMs,
      gpuMs,
      sgdStepWallMs: wallMs / replays,
      sgdStepGpuMs: gpuMs / replays,
    }) as MeasuredCost;
  // natural 10 ms (GPU 8); free-2 22 ms for two SGD steps (GPU 18); pgd-2 30 ms (GPU 20); pgd-2-full 40 ms (GPU 28).
  const r = summarize(
    [cost('natural', 1, 10, 8), cost('free-2', 2, 22, 18), cost('pgd-2', 1, 30, 20), cost('pgd-2-full', 1, 40, 28)],
    500,
  );
  const [nat, free, pgd, full] = r.costs;
  assert.is(nat.epochWallS, 5, '500 steps of 10 ms');
  assert.is(free.epochWallS, 5.5, '500 steps of 11 ms');
  assert.is(free.ratioWall, 1.1);
  assert.is(free.ratioGpu, 9 / 8);
  assert.is(pgd.ratioWall, 3);
  assert.is(full.ratioGpu, 3.5);
  assert.is(r.attacks.length, 1, 'pgd-2 with its -full twin');
  const a = r.attacks[0];
  // Per attack step: (30 - 10) / 2 = 10 ms input-only, (40 - 10) / 2 = 15 ms full; GPU 6 and 10.
  assert.equal([a.inputOnly.wallMs, a.full.wallMs, a.inputOnly.gpuMs, a.full.gpuMs], [10, 15, 6, 10]);
  close(a.saving.wall, 1 / 3, 'wall saving');
  close(a.saving.gpu!, 0.4, 'GPU saving');
  close(a.attackShare!, 12 / 20, 'two attack steps of 6 ms in 20');
});

t('the report folder: markdown and chart name adapter, driver and commit; JSON holds the run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advfree-bench-'));
  const files = await writeReport(dir, report);
  assert.equal(
    files.map((f) => f.slice(dir.length + 1)),
    ['report.md', 'report.json', 'families.png', 'families.svg', 'families.vl.json'],
  );
  const md = readFileSync(files[0], 'utf8');
  for (const s of [
    report.env.adapter,
    report.env.driver,
    report.env.commit,
    '| pgd-2 |',
    '## Peer',
    '% FMA',
    '% BW',
    'FMA ceiling',
  ])
    assert.ok(md.includes(s), `report.md mentions ${s}`);
  assert.equal(JSON.parse(readFileSync(files[1], 'utf8')), JSON.parse(JSON.stringify(report)));
  // The chart's data are the report's numbers: per method, each family's GPU ms, adding up to the step's.
  const { spec, svg, png } = readChart(files[2]);
  const layers = (spec as unknown as { layer: { data: { values: Record<string, unknown>[] } }[] }).layer;
  const segments = layers[0].data.values as { bar: string; key: KernelFamily; value: number }[];
  const costs = report.methods!.costs;
  assert.equal(
    [...new Set(segments.map((x) => x.bar))],
    costs.map((c) => c.method),
  );
  for (const c of costs) {
    const mine = segments.filter((x) => x.bar === c.method);
    for (const x of mine) assert.is(x.value, c.byFamily[x.key]?.ms ?? 0, `${c.method} ${x.key}`);
    close(sum(mine.map((x) => x.value)), c.sgdStepGpuMs!, `${c.method}: the bar is the step's GPU time`);
  }
  assert.ok(svg.includes(report.env.adapter.replaceAll('&', '&amp;')), 'the chart names the adapter');
  assert.ok(png.width >= 640 && png.height > costs.length * 2 * 26, `chart is ${png.width}x${png.height}`);
  assert.ok(darkPixels(png, 0, 2 * (12 + 18)) > 100, 'title drawn');
});

t('the peer step table: masks, each engine against float64, the bound, the verdict and ours against tfjs', () => {
  const row = (
    quantity: AgreementRow['quantity'],
    tensor: string | null,
    ours: number,
    tfjs: number,
  ): AgreementRow => ({
    quantity,
    tensor,
    ours,
    tfjs,
    bound: Math.max(2 * tfjs, 1e-4),
    ok: ours <= Math.max(2 * tfjs, 1e-4),
    peer: { tensor, error: 3.3e-3 },
  });
  const rows = [
    row('loss', null, 2e-7, 1e-7),
    row('input gradient', null, 1.5e-3, 1e-3),
    row('weight gradient', 'block1.layer.1.bn2.weight', 4.6e-3, 2e-3),
    row('SGD update', 'fc.bias', NaN, 1e-3),
  ];
  const mask = (flips: number, worst: number) => ({ flips, total: 8388608, worst, layer: flips ? 'bn1' : null });
  const check = { masks: { ours: mask(3, 2.5e-4), tfjs: mask(2, 1e-6), bound: 1e-4, ok: false }, rows };
  const md = markdown({ ...report, peer: { ...report.peer!, step: { ...report.peer!.step, check } } });
  const lines = md.split('\n');
  const at = (q: string) => lines.find((l) => l.startsWith(`| ${q} |`) || l.startsWith(`| ${q} (`));
  assert.ok(md.includes('| quantity | ours vs float64 | tfjs vs float64 | bound | verdict | ours vs tfjs |'), md);
  assert.ok(md.includes('ours ≤ max(2 × tfjs, 1e-4)'), 'the rule is stated');
  assert.is(
    at('ReLU masks'),
    '| ReLU masks (differing activations: ours 3, tfjs 2 of 8388608) | 2.5e-4 | 1.0e-6 | 1.0e-4 | FAIL | – |',
  );
  assert.is(at('loss'), '| loss | 2.0e-7 | 1.0e-7 | 1.0e-4 | ok | 3.3e-3 |');
  assert.is(at('input gradient'), '| input gradient | 1.5e-3 | 1.0e-3 | 2.0e-3 | ok | 3.3e-3 |');
  assert.is(
    at('weight gradient'),
    '| weight gradient (block1.layer.1.bn2.weight) | 4.6e-3 | 2.0e-3 | 4.0e-3 | FAIL | 3.3e-3 (block1.layer.1.bn2.weight) |',
  );
  assert.is(at('SGD update'), '| SGD update (fc.bias) | NaN | 1.0e-3 | 2.0e-3 | FAIL | 3.3e-3 (fc.bias) |');
});

t('method names: the accepted forms, and an error naming them otherwise', () => {
  for (const ok of ['natural', 'free-8', 'pgd-10', 'pgd-7-full', 'fgsm-rs', 'fgsm-rs-full']) checkMethodName(ok);
  for (const bad of ['pgd-x', 'nosuch', 'natural-full'])
    assertThrows(() => checkMethodName(bad), new RegExp(`method '${bad}'`), /pgd-K/);
  assertThrows(() => checkMethodName('pgd-0'), /method 'pgd-0': --steps must be an integer in \[1, 1000\], got 0/);
});

t.run();
