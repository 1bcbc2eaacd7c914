// One WideResNet training step in float64 on the host, in the model's own layout (nn/wrn.ts: pre-activation blocks
// BN-ReLU-conv, a 1x1 shortcut conv fed the pre-activated input where the shape changes, batch statistics, global
// average pool, linear) and with PyTorch's SGD: the exact answer two fp32 engines are measured against, since
// their distance from each other alone cannot say which of them (if either) is off.
import type { ParamRole } from '../nn/module.js';
import { decayOf, type SgdOptions } from '../nn/optim.js';
import type { WrnConfig } from '../nn/models/wrn.js';
import { blocksPerGroup, wrnChannels } from '../nn/models/wrn-layout.js';
import * as op from './f64-ops.js';

type F64 = Float64Array;

/** Parameters by state_dict name, in our layouts (NCHW activations, [Cout, C, kH, kW] conv weights). */
export type Params64 = ReadonlyMap<string, F64>;

export interface WrnForward64 {
  /** [n, classes]. */
  logits: F64;
  /** The batch-mean softmax cross-entropy. */
  loss: number;
  /** Every parameter the forward read, with its role (for the optimizer's weight decay). */
  roles: Map<string, ParamRole>;
  /** Each batch norm's output before its ReLU, by the BN's name (e.g. 'block1.layer.0.bn1'). */
  preActivations: Map<string, F64>;
  /** The gradients of the loss for the input and for every parameter (by name). */
  backward: () => { inputGrad: F64; grads: Map<string, F64> };
}

interface Act {
  v: F64;
  n: number;
  c: number;
  h: number;
  w: number;
}

type Back = (dy: F64) => F64;

/**
 * The forward pass of WRN `config` on images x [n, c, h, w] with integer labels, keeping what the backward
 * needs. Batch norm is in training mode (eps 1e-5, as nn/layers.ts); running statistics are not computed.
 * `masks` (by BN name, NCHW, 1 where the ReLU passes) replaces the ReLUs' own decisions, in the forward and the
 * backward: the exact step on the linear piece an fp32 engine chose. Near a kink (a pre-activation within
 * rounding of 0) the exact gradient is not what any fp32 engine can be expected to hit; given its masks it is.
 */
export function wrnForward64(
  config: WrnConfig,
  params: Params64,
  x: F64,
  shape: readonly number[],
  labels: ArrayLike<number>,
  masks?: ReadonlyMap<string, Uint8Array>,
): WrnForward64 {
  const [n, cin, h, w] = shape;
  if (x.length !== n * cin * h * w)
    throw new Error(`wrnForward64: input has ${x.length} values, shape [${shape.join(',')}] needs ${n * cin * h * w}`);
  if (labels.length !== n) throw new Error(`wrnForward64: ${labels.length} labels for a batch of ${n}`);
  const roles = new Map<string, ParamRole>();
  const preActivations = new Map<string, F64>();
  const grads = new Map<string, F64>();
  const param = (name: string, role: ParamRole, size: number): F64 => {
    const p = params.get(name);
    if (!p) throw new Error(`wrnForward64: no parameter '${name}' for ${`wrn-${config.depth}-${config.width}`}`);
    if (p.length !== size)
      throw new Error(`wrnForward64: parameter '${name}' has ${p.length} values, expected ${size}`);
    roles.set(name, role);
    return p;
  };

  const conv = (a: Act, name: string, cout: number, k: number, stride: number): [Act, Back] => {
    const wt = param(`${name}.weight`, 'conv', cout * a.c * k * k);
    const s = { n: a.n, c: a.c, h: a.h, w: a.w, cout, kh: k, kw: k, stride, pad: (k - 1) / 2 };
    const [oh, ow] = op.convOut(s);
    const back: Back = (dy) => {
      const { dx, dw } = op.conv2dBackward(dy, a.v, wt, s);
      grads.set(`${name}.weight`, dw);
      return dx;
    };
    return [{ v: op.conv2d(a.v, wt, s), n: a.n, c: cout, h: oh, w: ow }, back];
  };
  const bnRelu = (a: Act, name: string): [Act, Back] => {
    const gamma = param(`${name}.weight`, 'bn', a.c);
    const beta = param(`${name}.bias`, 'bn', a.c);
    const hw = a.h * a.w;
    const bn = op.batchNormTrain(a.v, gamma, beta, a.n, a.c, hw);
    preActivations.set(name, bn.y);
    const mask = masks?.get(name);
    if (mask && mask.length !== bn.y.length)
      throw new Error(`wrnForward64: mask '${name}' has ${mask.length} values, the activation ${bn.y.length}`);
    const y = mask ? bn.y.map((v, i) => (mask[i] ? v : 0)) : op.relu(bn.y);
    const back: Back = (dy) => {
      const g = op.batchNormTrainBackward(
        mask ? dy.map((v, i) => (mask[i] ? v : 0)) : op.reluBackward(dy, y),
        a.v,
        gamma,
        bn,
        a.n,
        a.c,
        hw,
      );
      grads.set(`${name}.weight`, g.dgamma);
      grads.set(`${name}.bias`, g.dbeta);
      return g.dx;
    };
    return [{ ...a, v: y }, back];
  };
  /** out = shortcut + conv2(bnRelu(conv1(a))) with a = bnRelu(x); the shortcut is x, or a 1x1 conv of a. */
  const block = (x0: Act, at: string, cout: number, stride: number): [Act, Back] => {
    const [a, bBn1] = bnRelu(x0, `${at}.bn1`);
    const [o1, bConv1] = conv(a, `${at}.conv1`, cout, 3, stride);
    const [b, bBn2] = bnRelu(o1, `${at}.bn2`);
    const [o2, bConv2] = conv(b, `${at}.conv2`, cout, 3, 1);
    const short = x0.c === cout ? null : conv(a, `${at}.convShortcut`, cout, 1, stride);
    const back: Back = (dy) => {
      const da = bConv1(bBn2(bConv2(dy)));
      if (!short) return op.add(bBn1(da), dy);
      return bBn1(op.add(da, short[1](dy)));
    };
    return [{ ...o2, v: op.add(short ? short[0].v : x0.v, o2.v) }, back];
  };

  const ch = wrnChannels(config.width);
  const backs: Back[] = [];
  const push = ([a, b]: [Act, Back]): Act => (backs.push(b), a);
  let act = push(conv({ v: x, n, c: cin, h, w }, 'conv1', ch[0], 3, 1));
  for (let g = 1; g <= 3; g++) {
    for (let i = 0; i < blocksPerGroup(config.depth); i++)
      act = push(block(act, `block${g}.layer.${i}`, ch[g], i === 0 && g > 1 ? 2 : 1));
  }
  const z = push(bnRelu(act, 'bn1'));
  const hw = z.h * z.w;
  const pooled = op.avgPool(z.v, n * z.c, hw);
  const k = config.classes;
  const fcW = param('fc.weight', 'linear-weight', k * z.c);
  const fcB = param('fc.bias', 'bias', k);
  const logits = op.linear(pooled, fcW, fcB, n, z.c, k);
  const foreign = [...(masks?.keys() ?? [])].filter((name) => !preActivations.has(name));
  if (foreign.length)
    throw new Error(
      `wrnForward64: masks for ${foreign.join(', ')}, which ${foreign.length > 1 ? 'are' : 'is'} no batch norm of wrn-${config.depth}-${config.width}`,
    );
  const unused = [...params.keys()].filter((name) => !roles.has(name));
  if (unused.length)
    throw new Error(
      `wrnForward64: ${unused.join(', ')} ${unused.length > 1 ? 'are not parameters' : 'is not a parameter'} of wrn-${config.depth}-${config.width}`,
    );

  return {
    logits,
    loss: op.mean(op.crossEntropy(logits, labels, n, k)),
    roles,
    preActivations,
    backward: () => {
      const fc = op.linearBackward(op.crossEntropyMeanBackward(logits, labels, n, k), pooled, fcW, n, z.c, k);
      grads.set('fc.weight', fc.dw);
      grads.set('fc.bias', fc.db);
      const inputGrad = backs.reduceRight((dy, b) => b(dy), op.avgPoolBackward(fc.dx, hw));
      return { inputGrad, grads };
    },
  };
}

export interface WrnStep64 {
  loss: number;
  preActivations: Map<string, F64>;
  inputGrad: F64;
  grads: Map<string, F64>;
  /** The parameters after one SGD step from zero momentum buffers. */
  after: Map<string, F64>;
}

/**
 * One torch.optim.SGD step from zero momentum buffers (as a fresh optimizer has), with weight decay per parameter
 * as nn/optim.ts's Sgd decides it by role:
 *   d = g + wd·p;  buf = momentum·0 + d;  p −= lr·(nesterov ? d + momentum·buf : buf).
 */
export function sgdStep64(
  params: Params64,
  grads: ReadonlyMap<string, ArrayLike<number>>,
  roles: ReadonlyMap<string, ParamRole>,
  sgd: SgdOptions,
  lr: number,
): Map<string, F64> {
  const after = new Map<string, F64>();
  for (const [name, p] of params) {
    const wd = decayOf(roles.get(name)!, sgd);
    const g = grads.get(name)!;
    after.set(
      name,
      p.map((v, i) => {
        const d = g[i] + wd * v;
        return v - lr * (sgd.nesterov ? d + sgd.momentum * d : d);
      }),
    );
  }
  return after;
}

/** The loss, the gradients and one SGD step (sgdStep64), optionally on given ReLU masks (wrnForward64). */
export function wrnStep64(
  config: WrnConfig,
  params: Params64,
  x: F64,
  shape: readonly number[],
  labels: ArrayLike<number>,
  sgd: SgdOptions,
  lr: number,
  masks?: ReadonlyMap<string, Uint8Array>,
): WrnStep64 {
  const fwd = wrnForward64(config, params, x, shape, labels, masks);
  const { inputGrad, grads } = fwd.backward();
  return {
    loss: fwd.loss,
    preActivations: fwd.preActivations,
    inputGrad,
    grads,
    after: sgdStep64(params, grads, fwd.roles, sgd, lr),
  };
}
