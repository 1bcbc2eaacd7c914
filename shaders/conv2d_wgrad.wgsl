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
override CB: u32 = 8u; // output channels per invocation, <= 16
override RB: u32 = 2u; // input channels per invocation, <= 8
override CG: u32 = 1u; // channel groups per workgroup
override KK: u32 = 9u; // taps kH * kW
override WG: u32 = 9u; // KK * CG

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = p.stride;
  let chunk = wid.x;
  let tap = lid % KK;
  let kh = tap / p.kW;
  let kw = tap - kh * p.kW;
  let co0 = wid.z * CB;
  let c0 = (wid.y * CG + lid / KK) * RB;
  let plane = p.H * p.W;
  let oplane = p.OH * p.OW;

  // Clamped channels keep the loads of partial blocks in bounds; their sums are not stored.
  var xplane: array<u32, 8>;
  for (var r = 0u; r < RB; r++) {
    xplane[r] = min(c0 + r, p.C - 1u) * plane;
  }
  var dplane: array<u32, 16>;
  for (var i = 0u; i < CB; i++) {
    dplane[i] = min(co0 + i, p.Cout - 1u) * oplane;
  }

  var acc: array<f32, 128>; // [CB][RB]
  let rowEnd = min(p.rows, (chunk + 1u) * p.rowsPerChunk);
  for (var row = chunk * p.rowsPerChunk; row < rowEnd; row++) {
    let n = row / p.OH;
    let oh = row - n * p.OH;
    let ih = i32(oh * s + kh) - i32(p.pad);
    let rowOk = ih >= 0 && ih < i32(p.H);
    let xrow = n * p.C * plane + u32(max(ih, 0)) * p.W;
    var iw = i32(kw) - i32(p.pad);
    var dof = n * p.Cout * oplane + oh * p.OW;
    for (var ow = 0u; ow < p.OW; ow++) {
      let ok = rowOk && iw >= 0 && iw < i32(p.W);
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

  let S = p.Cout * p.C * KK;
  for (var i = 0u; i < CB; i++) {
    let co = co0 + i;
    if (co >= p.Cout) { break; }
    for (var r = 0u; r < RB; r++) {
      let c = c0 + r;
      if (c < p.C) { part[chunk * S + (co * p.C + c) * KK + tap] = acc[i * RB + r]; }
    }
  }
}
