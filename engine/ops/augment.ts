// Raw image bytes to network input on the GPU, with the standard CIFAR augmentation (pad, random crop, random
// horizontal flip). Not differentiable: its input is data, so it records nothing on the tape.
import augmentSrc from '../../shaders/augment.wgsl';
import { rt } from '../context.js';
import { checkDtype, checkRank, fail } from '../check.js';
import { cdiv, grid, kernel } from '../kernel.js';
import { empty, type Tensor } from '../tensor.js';

const AUGMENT = kernel({
  name: 'images_to_float',
  family: 'elementwise',
  source: augmentSrc,
  params: ['total:u32', 'C:u32', 'H:u32', 'W:u32', 'pad:u32', 'flip:u32', 'seed:u32', 'step:u32'],
  // Bytes in as u32 words, floats out as vec4s.
  buffers: { src: 'read u32', dst: 'read_write vec4f' },
  bytes: (p) => 5 * p.total,
});

export interface AugmentOptions {
  /** Zero padding on each side before the random crop (4 for CIFAR); 0 disables the crop. */
  pad: number;
  /** Flip each example horizontally with probability 1/2. */
  flip: boolean;
  /** With `step`, determines every example's crop and flip (a counter-based hash of seed, step, example). */
  seed: number;
  /** Training step: a different step draws different crops and flips. */
  step: number;
}

const isU32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * u8 images [N,C,H,W] to f32 byte/255 in [0,1]. With `augment`, each example is zero-padded by `pad`, cropped
 * back to HxW at offsets (dy, dx) uniform in [0, 2·pad], and flipped horizontally with probability 1/2 if
 * `flip`, as torchvision's RandomCrop(H, padding=pad) + RandomHorizontalFlip. The choices depend only on
 * (seed, step, example index); the exact hash is documented in shaders/augment.wgsl.
 */
export function imagesToFloat(bytes: Tensor, opts: { augment?: AugmentOptions } = {}): Tensor {
  const op = 'imagesToFloat';
  checkDtype(op, 'images', bytes, 'u8');
  checkRank(op, 'images', bytes, 4);
  const a = opts.augment;
  if (a) {
    if (!Number.isInteger(a.pad) || a.pad < 0)
      fail(op, `pad must be an integer >= 0, got ${a.pad} (images ${bytes.describe()})`);
    if (!isU32(a.seed)) fail(op, `seed must be an integer in [0, 2^32), got ${a.seed}`);
    if (!isU32(a.step)) fail(op, `step must be an integer in [0, 2^32), got ${a.step}`);
  }
  const [, C, H, W] = bytes.shape;
  const y = empty(bytes.shape, 'images');
  const quads = cdiv(y.size, 4);
  // The kernel stores whole vec4s, so the last one may extend past the tensor's data into its buffer's tail.
  if (y.buffer.size < quads * 16)
    throw new Error(`advfree: ${op}: output buffer of ${y.buffer.size} bytes cannot hold ${quads} vec4s`);
  rt().dispatch({
    kernel: AUGMENT,
    overrides: { AUGMENT: !!a },
    params: { total: y.size, C, H, W, pad: a?.pad ?? 0, flip: a?.flip ? 1 : 0, seed: a?.seed ?? 0, step: a?.step ?? 0 },
    buffers: { src: bytes, dst: y },
    groups: grid(cdiv(quads, 256)),
  });
  return y;
}

/** The PCG hash of shaders/augment.wgsl in u32 arithmetic. */
function pcg(v: number): number {
  const s = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const w = Math.imul((s >>> ((s >>> 28) + 4)) ^ s, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/**
 * The crop offsets and flips imagesToFloat draws for examples 0..n-1, computed on the host (the same hash as the
 * shader), so per-example state can be mapped through each batch's augmentation.
 */
export function augmentChoices(a: AugmentOptions, n: number): { dy: Int32Array; dx: Int32Array; flip: Uint8Array } {
  const dy = new Int32Array(n);
  const dx = new Int32Array(n);
  const flip = new Uint8Array(n);
  const range = 2 * a.pad + 1;
  for (let e = 0; e < n; e++) {
    const base = pcg((pcg((pcg(a.seed) ^ a.step) >>> 0) ^ e) >>> 0);
    dy[e] = pcg(base) % range;
    dx[e] = pcg((base ^ 1) >>> 0) % range;
    flip[e] = a.flip && pcg((base ^ 2) >>> 0) >>> 31 === 1 ? 1 : 0;
  }
  return { dy, dx, flip };
}
