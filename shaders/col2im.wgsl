// Uniforms (p) and buffers are declared in engine/ops/conv2d.ts (see engine/kernel.ts).
// The input gradient of a convolution with few input channels, second step: dx from the per-tap columns
// cols[n, (c, kh, kw), oh, ow] = Σ_co w[co, c, kh, kw]·dy[n, co, oh, ow] (a GEMM, the first step):
//   dx[n, c, y, x] = Σ over the taps (kh, kw) that reach (y, x) from an output pixel (oh, ow) of cols there,
// where y = oh·STRIDE + kh - PAD (and likewise x). One invocation per element of dx; the geometry is
// specialised into the pipeline, as in conv2d.wgsl.
override C: u32;
override H: u32;
override W: u32;
override OH: u32;
override OW: u32;
override KH: u32;
override KW: u32;
override STRIDE: u32;
override PAD: u32;
override HAS_RESIDUAL: bool = false; // dx += res (the tape's gradient accumulated for x so far)

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 256u + lid;
  if (i >= p.total) { return; }
  let x = i % W;
  let t = i / W;
  let y = t % H;
  let nc = t / H; // n·C + c
  let s = i32(STRIDE);
  var acc = 0.0;
  for (var kh = 0u; kh < KH; kh++) {
    let ty = i32(y + PAD) - i32(kh);
    if (ty < 0 || ty % s != 0 || u32(ty / s) >= OH) { continue; }
    for (var kw = 0u; kw < KW; kw++) {
      let tx = i32(x + PAD) - i32(kw);
      if (tx < 0 || tx % s != 0 || u32(tx / s) >= OW) { continue; }
      acc += cols[((nc * KH + kh) * KW + kw) * OH * OW + u32(ty / s) * OW + u32(tx / s)];
    }
  }
  if (HAS_RESIDUAL) { acc += res[i]; }
  dx[i] = acc;
}
