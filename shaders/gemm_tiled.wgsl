// Uniforms (p) and buffers are declared in engine/ops/gemm-tiled.ts (see engine/kernel.ts).
// A workgroup-memory tiled GEMM for hardware GPUs, serving matmul and the three convolution passes as implicit
// GEMMs (the design of tfjs-backend-webgpu's matmul and conv2d_mm): a workgroup of 16x16 invocations computes a
// 64x64 tile of C, each invocation a 4x4 register block (rows ty + 16i, columns tx + 16j, so stores are
// contiguous across invocations). For each 16-deep slice of K the workgroup stages the A and B tiles in
// workgroup memory, and every invocation reads its rows and columns from there. MODE picks the operands,
// gathered on the fly (no im2col buffer); out-of-range elements load as 0:
//   0 matmul            C[z] = op(A[z])·op(B[z]) (+ bias[col], ReLU): M x N x K, workgroup z = batch entry
//   1 conv forward      row m = (n, oh, ow), col = co, k = (c, kh, kw): A = x, B = w, C = y (+ bias[co], + res, ReLU)
//   2 conv input grad   row m = (n, ih, iw), col = c, k = (co, kh, kw): A = dy at the (oh, ow) that the tap
//                       reaches from (ih, iw) (0 where the stride skips it), B = w, C = dx
//   3 conv weight grad  row m = co, col = (c, kh, kw), k = (n, oh, ow) within chunk z of kChunk: A = dy, B = x,
//                       C = partial sums [z, Cout, C·kH·kW] (one chunk: dw itself)
override MODE: u32 = 0u;
override TA: bool = false;
override TB: bool = false;
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false; // conv forward and input gradient: C += res, same layout
override RELU: bool = false; // matmul and conv forward: C = max(C, 0), last
const TS = 64u; // tile rows and columns
const TK = 16u; // tile depth
const WG = 256u;

var<workgroup> As: array<f32, 1024>; // [TK][TS]: A(row0 + i, k0 + kk) at kk * TS + i
var<workgroup> Bs: array<f32, 1024>; // [TK][TS]: B(k0 + kk, col0 + j) at kk * TS + j

struct Pixel { n: u32, y: u32, x: u32 }

// Splits a flat index over [*, h, w] planes.
fn pixel(i: u32, h: u32, w: u32) -> Pixel {
  let hw = h * w;
  let r = i % hw;
  return Pixel(i / hw, r / w, r % w);
}

// x[n, c, y, x], 0 outside the image.
fn x_at(n: u32, c: u32, y: i32, x: i32) -> f32 {
  if (y < 0 || y >= i32(p.H) || x < 0 || x >= i32(p.W)) { return 0.0; }
  return b_or_a_image(((n * p.C + c) * p.H + u32(y)) * p.W + u32(x));
}

// The image operand: x is A in the forward pass and B in the weight gradient.
fn b_or_a_image(i: u32) -> f32 {
  if (MODE == 3u) { return b[i]; }
  return a[i];
}

fn load_a(m: u32, k: u32, z: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  let kk = p.kH * p.kW;
  switch MODE {
    case 1u: {
      let q = pixel(m, p.OH, p.OW);
      let c = k / kk;
      let t = k % kk;
      return x_at(q.n, c, i32(q.y * p.stride + t / p.kW) - i32(p.pad), i32(q.x * p.stride + t % p.kW) - i32(p.pad));
    }
    case 2u: {
      let q = pixel(m, p.H, p.W);
      let co = k / kk;
      let t = k % kk;
      let ty = i32(q.y + p.pad) - i32(t / p.kW);
      let tx = i32(q.x + p.pad) - i32(t % p.kW);
      let s = i32(p.stride);
      if (ty < 0 || tx < 0 || ty % s != 0 || tx % s != 0) { return 0.0; }
      let oy = u32(ty / s);
      let ox = u32(tx / s);
      if (oy >= p.OH || ox >= p.OW) { return 0.0; }
      return a[((q.n * p.Cout + co) * p.OH + oy) * p.OW + ox];
    }
    case 3u: {
      let plane = p.OH * p.OW;
      return a[((k / plane) * p.Cout + m) * plane + k % plane];
    }
    default: {
      return a[z * p.strideA + select(m * p.K + k, k * p.M + m, TA)];
    }
  }
}

fn load_b(k: u32, col: u32, z: u32) -> f32 {
  if (k >= p.K || col >= p.N) { return 0.0; }
  let kk = p.kH * p.kW;
  switch MODE {
    case 1u: { return b[col * p.K + k]; }
    case 2u: { return b[((k / kk) * p.C + col) * kk + k % kk]; }
    case 3u: {
      let q = pixel(k, p.OH, p.OW);
      let c = col / kk;
      let t = col % kk;
      return x_at(q.n, c, i32(q.y * p.stride + t / p.kW) - i32(p.pad), i32(q.x * p.stride + t % p.kW) - i32(p.pad));
    }
    default: {
      return b[z * p.strideB + select(k * p.N + col, col * p.K + k, TB)];
    }
  }
}

fn store(m: u32, col: u32, z: u32, v: f32) {
  switch MODE {
    case 1u: {
      let q = pixel(m, p.OH, p.OW);
      var r = v;
      if (HAS_BIAS) { r += bias[col]; }
      let i = ((q.n * p.Cout + col) * p.OH + q.y) * p.OW + q.x;
      if (HAS_RESIDUAL) { r += res[i]; }
      if (RELU) { r = max(r, 0.0); }
      c[i] = r;
    }
    case 2u: {
      let q = pixel(m, p.H, p.W);
      let i = ((q.n * p.C + col) * p.H + q.y) * p.W + q.x;
      var r = v;
      if (HAS_RESIDUAL) { r += res[i]; }
      c[i] = r;
    }
    case 3u: { c[(z * p.M + m) * p.N + col] = v; }
    default: {
      var r = v;
      if (HAS_BIAS) { r += bias[col]; }
      if (RELU) { r = max(r, 0.0); }
      c[z * p.strideC + m * p.N + col] = r;
    }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) l: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row0 = wid.y * TS;
  let col0 = wid.x * TS;
  let z = wid.z;
  // Matmul: z is the batch entry over all of K; weight gradient: z is a chunk of K.
  var kBegin = 0u;
  var kEnd = p.K;
  if (MODE == 3u) {
    kBegin = z * p.kChunk;
    kEnd = min(p.K, kBegin + p.kChunk);
  }
  var acc: array<f32, 16>; // [i][j]: row l.y + 16i, column l.x + 16j
  for (var k0 = kBegin; k0 < kEnd; k0 += TK) {
    // 1024 elements of each tile, 4 per invocation; k beyond this chunk loads as 0 through kEnd.
    for (var q = 0u; q < 4u; q++) {
      let e = lid + q * WG;
      let kk = e / TS;
      let i = e % TS;
      let k = k0 + kk;
      As[e] = select(0.0, load_a(row0 + i, k, z), k < kEnd);
      Bs[e] = select(0.0, load_b(k, col0 + i, z), k < kEnd);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = As[kk * TS + l.y + 16u * i];
        bv[i] = Bs[kk * TS + l.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = fma(av[i], bv[j], acc[i * 4u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + l.y + 16u * i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + l.x + 16u * j;
      if (col < p.N) { store(m, col, z, acc[i * 4u + j]); }
    }
  }
}
