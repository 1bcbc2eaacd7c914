// Uniforms (p) and buffers are declared in engine/ops/conv2d.ts (see engine/kernel.ts).
// Weight gradient of a convolution as a split-K implicit GEMM:
//   dw[co, c, kh, kw] = sum over (n, oh, ow) of dy[n, co, oh, ow] * x[n, c, oh*s + kh - pad, ow*s + kw - pad].
// The reduction (N*OH*OW) is far longer than the output, so it is cut into chunks of output rows (n, oh): each
// workgroup sums one chunk for one tap, a block of CB output channels and WG*RB input channels, and writes
// partial sums to part[chunk, co, c, kh, kw]; conv2d_reduce.wgsl then adds the chunks (no float atomics).
// With a single chunk, part is dw itself.
// The tap and the output channels are uniform across the workgroup: the dy loads are scalar loads and the
// padding bounds become a range of ow, so the inner loop has no bounds checks. Each invocation gathers x for
// its RB input channels.
override CB: u32 = 8u; // output channels per invocation, <= 16
override RB: u32 = 2u; // input channels per invocation, <= 8
override WG: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = p.stride;
  let chunk = wid.x;
  let tap = wid.y / p.cBlocks;
  let cblk = wid.y - tap * p.cBlocks;
  let kh = tap / p.kW;
  let kw = tap - kh * p.kW;
  let co0 = wid.z * CB;
  let c0 = (cblk * WG + lid) * RB;
  let plane = p.H * p.W;
  let oplane = p.OH * p.OW;
  let kk = p.kH * p.kW;

  // Clamped channels keep the loads of partial blocks in bounds; their sums are not stored.
  var xplane: array<u32, 8>;
  for (var r = 0u; r < RB; r++) {
    xplane[r] = min(c0 + r, p.C - 1u) * plane;
  }
  var dplane: array<u32, 16>;
  for (var i = 0u; i < CB; i++) {
    dplane[i] = min(co0 + i, p.Cout - 1u) * oplane;
  }

  // The ow whose column ow*s + kw - pad lies inside [0, W).
  let lead = i32(p.pad) - i32(kw);
  var owLo = 0u;
  if (lead > 0) { owLo = (u32(lead) + s - 1u) / s; }
  let last = i32(p.W) - 1 + lead; // (W - 1 + pad - kw): the largest valid ow*s
  var owHi = 0u;
  if (last >= 0) { owHi = min(p.OW, u32(last) / s + 1u); }

  var acc: array<f32, 128>; // [CB][RB]
  let rowEnd = min(p.rows, (chunk + 1u) * p.rowsPerChunk);
  for (var row = chunk * p.rowsPerChunk; row < rowEnd; row++) {
    let n = row / p.OH;
    let oh = row - n * p.OH;
    let ih = i32(oh * s + kh) - i32(p.pad);
    if (ih < 0 || ih >= i32(p.H) || owLo >= owHi) { continue; }
    var xo = n * p.C * plane + u32(ih) * p.W + owLo * s + kw - p.pad;
    var dof = n * p.Cout * oplane + oh * p.OW + owLo;
    for (var ow = owLo; ow < owHi; ow++) {
      var xv: array<f32, 8>;
      for (var r = 0u; r < RB; r++) {
        xv[r] = x[xo + xplane[r]];
      }
      for (var i = 0u; i < CB; i++) {
        let d = dy[dof + dplane[i]];
        for (var r = 0u; r < RB; r++) {
          acc[i * RB + r] = fma(d, xv[r], acc[i * RB + r]);
        }
      }
      xo += s;
      dof += 1u;
    }
  }

  let S = p.Cout * p.C * kk;
  for (var i = 0u; i < CB; i++) {
    let co = co0 + i;
    if (co >= p.Cout) { break; }
    for (var r = 0u; r < RB; r++) {
      let c = c0 + r;
      if (c < p.C) { part[chunk * S + (co * p.C + c) * kk + tap] = acc[i * RB + r]; }
    }
  }
}
