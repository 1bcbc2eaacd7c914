// Uniforms (p) and buffers are declared in engine/ops/conv2d.ts (see engine/kernel.ts).
// Weight gradient of a convolution as a split-K implicit GEMM:
//   dw[co, c, kh, kw] = sum over (n, oh, ow) of dy[n, co, oh, ow] * x[n, c, oh*s + kh - pad, ow*s + kw - pad].
// The reduction (N*OH*OW) is far longer than the output, so it is cut into chunks of output rows (n, oh): each
// workgroup sums one chunk for a block of CB output channels and CG*RB input channels, and writes partial sums
// to part[chunk, co, c, kh, kw]; conv2d_reduce.wgsl then adds the chunks (no float atomics). With a single
// chunk, part is dw itself.
// Invocation lid takes tap lid % kk and the RB input channels of group lid / kk, so a workgroup of kk*CG
// invocations covers every tap: the output channels are uniform across the workgroup (the dy loads are scalar
// loads) and each invocation gathers x for its tap and channels, masked where the tap falls in the padding.
// The geometry is specialised into the pipeline (one per shape), as in conv2d.wgsl; the row counts (they vary
// with the batch) are uniforms.
override OUT_H: u32;
override OUT_W: u32;
override SRC_H: u32;
override SRC_W: u32;
override SRC_C: u32;
override OUT_C: u32;
override KW: u32;
override STRIDE: u32;
override PAD: u32;
override CB: u32 = 8u; // output channels per invocation, <= 16
override RB: u32 = 2u; // input channels per invocation, <= 8
override CG: u32 = 1u; // channel groups per workgroup
override KK: u32 = 9u; // taps kH * kW
override WG: u32 = 9u; // KK * CG

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = STRIDE;
  let chunk = wid.x;
  let tap = lid % KK;
  let kh = tap / KW;
  let kw = tap - kh * KW;
  let co0 = wid.z * CB;
  let c0 = (wid.y * CG + lid / KK) * RB;
  let plane = SRC_H * SRC_W;
  let oplane = OUT_H * OUT_W;

  // Clamped channels keep the loads of partial blocks in bounds; their sums are not stored.
  var xplane: array<u32, 8>;
  for (var r = 0u; r < RB; r++) {
    xplane[r] = min(c0 + r, SRC_C - 1u) * plane;
  }
  var dplane: array<u32, 16>;
  for (var i = 0u; i < CB; i++) {
    dplane[i] = min(co0 + i, OUT_C - 1u) * oplane;
  }

  var acc: array<f32, 128>; // [CB][RB]
  let rowEnd = min(p.rows, (chunk + 1u) * p.rowsPerChunk);
  for (var row = chunk * p.rowsPerChunk; row < rowEnd; row++) {
    let n = row / OUT_H;
    let oh = row - n * OUT_H;
    let ih = i32(oh * s + kh) - i32(PAD);
    let rowOk = ih >= 0 && ih < i32(SRC_H);
    let xrow = n * SRC_C * plane + u32(max(ih, 0)) * SRC_W;
    var iw = i32(kw) - i32(PAD);
    var dof = n * OUT_C * oplane + oh * OUT_W;
    for (var ow = 0u; ow < OUT_W; ow++) {
      let ok = rowOk && iw >= 0 && iw < i32(SRC_W);
      let xo = select(0u, xrow + u32(iw), ok);
      var xv: array<f32, 8>;
      for (var r = 0u; r < RB; r++) {
        xv[r] = select(0.0, x[xo + xplane[r]], ok);
      }
      for (var i = 0u; i < CB; i++) {
        let d = dy[dof + dplane[i]];
        for (var r = 0u; r < RB; r++) {
          acc[i * RB + r] = fma(d, xv[r], acc[i * RB + r]);
        }
      }
      iw += i32(s);
      dof += 1u;
    }
  }

  let S = OUT_C * SRC_C * KK;
  for (var i = 0u; i < CB; i++) {
    let co = co0 + i;
    if (co >= OUT_C) { break; }
    for (var r = 0u; r < RB; r++) {
      let c = c0 + r;
      if (c < SRC_C) { part[chunk * S + (co * SRC_C + c) * KK + tap] = acc[i * RB + r]; }
    }
  }
}
