// Float64 forward and backward of a torch.nn.Sequential of Conv2d (with bias), ReLU, Flatten and Linear layers:
// the oracle for the Sequential models (mnist-net, mlp-WIDTHxDEPTH), built on the op references of f64-ops.ts.
import * as op from './f64-ops.js';

export type Layer64 =
  | { kind: 'conv2d'; key: string; cout: number; k: number; stride: number; pad: number }
  | { kind: 'relu' }
  | { kind: 'flatten' }
  | { kind: 'linear'; key: string; out: number };

export interface Step64 {
  logits: op.F64;
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** d loss / d parameter, by state_dict key (KEY.weight, KEY.bias). */
  grads: Record<string, op.F64>;
  /** d loss / d input. */
  dx: op.F64;
}

/** Forward through `layers` from x [n, ...shape], then the mean cross-entropy's gradients for every parameter and the input. */
export function sequentialStep64(
  layers: readonly Layer64[],
  params: Record<string, op.F64>,
  x: op.F64,
  shape: readonly number[],
  labels: ArrayLike<number>,
): Step64 {
  const n = labels.length;
  type Saved = { input: op.F64; shape: number[]; output: op.F64; conv?: op.Conv2dShape; inF?: number };
  const saved: Saved[] = [];
  let h = x;
  let s = [...shape];
  for (const l of layers) {
    const input = h;
    const inShape = s;
    let conv: op.Conv2dShape | undefined;
    let inF: number | undefined;
    if (l.kind === 'conv2d') {
      conv = { n, c: s[0], h: s[1], w: s[2], cout: l.cout, kh: l.k, kw: l.k, stride: l.stride, pad: l.pad };
      h = op.conv2d(h, params[`${l.key}.weight`], conv, params[`${l.key}.bias`]);
      s = [l.cout, ...op.convOut(conv)];
    } else if (l.kind === 'relu') {
      h = op.relu(h);
    } else if (l.kind === 'flatten') {
      s = [s.reduce((a, d) => a * d, 1)];
    } else {
      inF = s.reduce((a, d) => a * d, 1);
      h = op.linear(h, params[`${l.key}.weight`], params[`${l.key}.bias`] ?? null, n, inF, l.out);
      s = [l.out];
    }
    saved.push({ input, shape: inShape, output: h, conv, inF });
  }
  const k = s[0];
  const logits = h;
  const loss = op.mean(op.crossEntropy(logits, labels, n, k));
  let dy = op.crossEntropyMeanBackward(logits, labels, n, k);
  const grads: Record<string, op.F64> = {};
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i];
    const sv = saved[i];
    if (l.kind === 'conv2d') {
      const c = sv.conv!;
      const { dx, dw } = op.conv2dBackward(dy, sv.input, params[`${l.key}.weight`], c);
      const hw = dy.length / (n * c.cout);
      const db = new Float64Array(c.cout);
      for (let j = 0; j < dy.length; j++) db[Math.floor(j / hw) % c.cout] += dy[j];
      grads[`${l.key}.weight`] = dw;
      grads[`${l.key}.bias`] = db;
      dy = dx;
    } else if (l.kind === 'relu') {
      dy = op.reluBackward(dy, sv.output);
    } else if (l.kind === 'linear') {
      const { dx, dw, db } = op.linearBackward(dy, sv.input, params[`${l.key}.weight`], n, sv.inF!, l.out);
      grads[`${l.key}.weight`] = dw;
      grads[`${l.key}.bias`] = db;
      dy = dx;
    }
  }
  return { logits, loss, grads, dx: dy };
}
