// The adapter's cost per dispatch, apart from any work: an empty-ish kernel (one workgroup copying 16 bytes)
// dispatched many times, recorded into one command buffer, submitted one by one, and submitted and waited for
// one by one; and its GPU time from the timestamps of a profiled run. What a step of n small dispatches pays on
// top of its kernels' work.
import { empty, rt } from '../engine/index.js';
import { profile } from '../engine/profile.js';
import { copyProbe } from './roofline.js';

export interface DispatchOverhead {
  /** Dispatches per timed sample. */
  dispatches: number;
  /** Wall microseconds per dispatch, median of the samples: recorded into shared command buffers (the runtime's batches), then one wait. */
  batchedUs: number;
  /** Of which the host's recording (bind group, encoding, the batch's submits). */
  recordUs: number;
  /** Each dispatch in a command buffer of its own, submitted at once, one wait at the end. */
  submitEachUs: number;
  /** Each dispatch submitted and waited for. */
  submitWaitUs: number;
  /** GPU time per dispatch from timestamps (each in a compute pass of its own); null without timestamp queries. */
  gpuUs: number | null;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export async function dispatchOverhead(dispatches: number, reps: number, profiled: boolean): Promise<DispatchOverhead> {
  const src = empty([4], 'overhead_src');
  const dst = empty([4], 'overhead_dst');
  const one = copyProbe(16, src, dst);
  const us = (ms: number) => (1000 * ms) / dispatches;
  const samples = {
    batched: [] as number[],
    record: [] as number[],
    submitEach: [] as number[],
    submitWait: [] as number[],
  };
  try {
    one();
    await rt().sync();
    for (let r = 0; r < reps; r++) {
      let t0 = performance.now();
      for (let i = 0; i < dispatches; i++) one();
      samples.record.push(us(performance.now() - t0));
      await rt().sync();
      samples.batched.push(us(performance.now() - t0));
      t0 = performance.now();
      for (let i = 0; i < dispatches; i++) {
        one();
        rt().flush();
      }
      await rt().sync();
      samples.submitEach.push(us(performance.now() - t0));
      t0 = performance.now();
      for (let i = 0; i < dispatches; i++) {
        one();
        await rt().sync();
      }
      samples.submitWait.push(us(performance.now() - t0));
    }
    const gpu = profiled
      ? await profile(() => {
          for (let i = 0; i < dispatches; i++) one();
        })
      : null;
    return {
      dispatches,
      batchedUs: median(samples.batched),
      recordUs: median(samples.record),
      submitEachUs: median(samples.submitEach),
      submitWaitUs: median(samples.submitWait),
      gpuUs: gpu ? us(gpu.ms) : null,
    };
  } finally {
    src.dispose();
    dst.dispose();
  }
}
