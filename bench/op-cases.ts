// The single-op workloads timed on our engine and on the peer: an n³ matmul and the three passes of a 3x3,
// stride-1, pad-1, C→C convolution per WideResNet stage shape. Both engines get the same seeded host data.
import { randn } from './host.js';

export type ConvPass = 'conv-forward' | 'conv-input-grad' | 'conv-weight-grad';

export type OpCase =
  | { kind: 'matmul'; name: string; n: number; flops: number }
  | { kind: ConvPass; name: string; N: number; C: number; H: number; flops: number };

export interface ConvShape {
  C: number;
  H: number;
}

/** A conv pass's FLOPs: 2·N·OH·OW·Cout·C·kH·kW with OH = H (pad 1, stride 1), Cout = C, 3x3. */
export const convFlops = (N: number, C: number, H: number): number => 2 * N * H * H * C * C * 9;

export function opCases(matmulN: number, convBatch: number, shapes: readonly ConvShape[]): OpCase[] {
  const cases: OpCase[] = [{ kind: 'matmul', name: `matmul ${matmulN}^3`, n: matmulN, flops: 2 * matmulN ** 3 }];
  for (const { C, H } of shapes) {
    for (const kind of ['conv-forward', 'conv-input-grad', 'conv-weight-grad'] as const) {
      cases.push({
        kind,
        name: `${kind} N${convBatch} ${H}x${H} ${C}->${C}`,
        N: convBatch,
        C,
        H,
        flops: convFlops(convBatch, C, H),
      });
    }
  }
  return cases;
}

/** Host inputs a, b [n,n] of a matmul case. */
export const matmulInputs = (n: number, seed: number) => ({ a: randn(n * n, seed), b: randn(n * n, seed + 1) });

/** Host inputs of a conv case in our layouts: x and dy [N,C,H,H], w [C,C,3,3] (He-scaled, like WRN's init). */
export function convInputs(c: { N: number; C: number; H: number }, seed: number) {
  const act = c.N * c.C * c.H * c.H;
  return { x: randn(act, seed), w: randn(c.C * c.C * 9, seed + 1, Math.sqrt(2 / (9 * c.C))), dy: randn(act, seed + 2) };
}

/** One engine's implementation of a case, with its inputs uploaded. */
export interface OpRunner {
  /** Records one run of the op (the result discarded). */
  run(): void;
  /** Waits until the engine's GPU work is done. */
  sync(): Promise<void>;
  /** One run's result, read back in our layout (NCHW / OIHW). */
  output(): Promise<Float32Array>;
  dispose(): void;
}
