// GFLOP/s of the three conv2d passes on the WideResNet-like shapes (batch 64, 3x3, pad 1, stride 1).
// Run by hand: node scripts/build.mjs-style bundle of this file, then `node dist/bench/conv2d.mjs`.
import { readdirSync, readFileSync } from 'node:fs';
import { conv2d, conv2dInputGrad, conv2dWeightGrad, init, randomNormal, rt, shutdown, type Tensor } from '../engine/index.js';

const shapes = [
  { N: 64, C: 16, H: 32 },
  { N: 64, C: 32, H: 16 },
  { N: 64, C: 64, H: 8 },
];

/** CPU seconds spent by this process's threads other than the main one: lavapipe's shader workers. */
function workerCpuSeconds(): number {
  let ticks = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100; // USER_HZ
}

/**
 * Best wall-clock GFLOP/s of the repetitions (other processes share the cores; the best run is the least
 * disturbed), and GFLOP per CPU-second of the shader worker threads, which contention barely changes.
 */
async function time(run: () => Tensor, flops: number): Promise<string> {
  run().dispose();
  await rt().sync();
  let best = Infinity;
  let reps = 0;
  const t0 = performance.now();
  const cpu0 = workerCpuSeconds();
  for (; performance.now() - t0 < 3000 || reps < 3; reps++) {
    const t1 = performance.now();
    run().dispose();
    await rt().sync();
    best = Math.min(best, performance.now() - t1);
  }
  const cpu = (workerCpuSeconds() - cpu0) / reps;
  return `${(flops / best / 1e6).toFixed(2)} (${(flops / cpu / 1e9).toFixed(2)}/cpu-s)`;
}

await init(process.env.NOROBUST ? { enableToggles: ['disable_robustness'] } : {});
for (const { N, C, H } of shapes) {
  const x = randomNormal([N, C, H, H], 0, 1, 1);
  const w = randomNormal([C, C, 3, 3], 0, 0.1, 2);
  const dy = randomNormal([N, C, H, H], 0, 1, 3);
  const flops = 2 * N * H * H * C * C * 9;
  const opts = { padding: 1 };
  const fwd = await time(() => conv2d(x, w, opts), flops);
  const dx = await time(() => conv2dInputGrad(dy, w, x.shape, opts), flops);
  const dw = await time(() => conv2dWeightGrad(dy, x, w.shape, opts), flops);
  console.log(`${H}x${H} ${C}->${C}: forward ${fwd}  input-grad ${dx}  weight-grad ${dw} GFLOP/s`);
  for (const t of [x, w, dy]) t.dispose();
}
shutdown();
