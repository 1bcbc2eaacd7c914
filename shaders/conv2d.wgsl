// Uniforms (p) and buffers are declared in engine/ops/conv2d.ts (see engine/kernel.ts).
// Implicit-GEMM convolution without im2col buffers. MODE picks the pass:
//   0: forward             out = x [N,C,H,W] (*) w [Cout,C,kH,kW]        (src = x,  out channels = Cout)
//   1: input gradient      out = dy [N,Cout,OH,OW] (*)^T w  -> dx [N,C,H,W] (src = dy, out channels = C)
// Each invocation keeps a register block of PB output pixels x CB output channels and reduces over the source
// channels, tap by tap. The channel block comes from the workgroup id, so every weight load has the same
// address in all invocations (a scalar load on lavapipe); only the source pixels are gathered per invocation.
// The input gradient of a stride-s convolution splits the output pixels into s*s residue classes
// (ih % s, iw % s): within a class the contributing taps and the offsets oh - ih/s are the same for every
// pixel, so the tap loop visits only the taps that contribute and needs no division.
// The convolution's geometry is specialised into the pipeline (one per shape: the network has about ten), so
// the compiler sees constant loop bounds and strides; only the pixel count M (it varies with the batch) is a
// uniform. Qh x Qw: the pixel grid of one class (forward OH x OW, input gradient ceil(H/s) x ceil(W/s)); SRC_C:
// the reduction channels; WS_OUT, WS_RED: the weight strides of an output and of a reduction channel; CO_BLOCKS:
// channel blocks (workgroup z = class·CO_BLOCKS + block).
override STRIDE: u32;
override PAD: u32;
override OUT_C: u32;
override OUT_H: u32;
override OUT_W: u32;
override SRC_C: u32;
override SRC_H: u32;
override SRC_W: u32;
override KH: u32;
override KW: u32;
override WS_OUT: u32;
override WS_RED: u32;
override CO_BLOCKS: u32;
override QH: u32;
override QW: u32;
override MODE: u32 = 0u;
override PB: u32 = 8u; // pixels per invocation, <= 8
override CB: u32 = 8u; // output channels per invocation, <= 16
override WG: u32 = 64u;
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false; // out += res (same layout): the block's residual add, or the tape's running sum
override RELU: bool = false; // out = max(out, 0), last: the activation after the layer

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let s = STRIDE;
  let cls = wid.z / CO_BLOCKS;
  let co0 = (wid.z - cls * CO_BLOCKS) * CB;
  let rh = cls / s;
  let rw = cls - rh * s;
  let srcPlane = SRC_H * SRC_W;
  let outPlane = OUT_H * OUT_W;

  // Per pixel: source coordinates before the tap offset, image base, validity, destination.
  // Consecutive invocations take consecutive pixels, so each gather touches few cache lines.
  var qy: array<i32, 8>;
  var qx: array<i32, 8>;
  var base: array<u32, 8>;
  var ok: array<bool, 8>;
  var dst: array<u32, 8>;
  let first = group_index(wid, nwg) * WG * PB + lid;
  for (var j = 0u; j < PB; j++) {
    let m = first + j * WG;
    let qw = m % QW;
    let t = m / QW;
    let qh = t % QH;
    let n = t / QH;
    var oy = qh;
    var ox = qw;
    if (MODE == 0u) {
      qy[j] = i32(qh * s);
      qx[j] = i32(qw * s);
    } else {
      oy = qh * s + rh;
      ox = qw * s + rw;
      qy[j] = i32(qh);
      qx[j] = i32(qw);
    }
    ok[j] = m < p.M && oy < OUT_H && ox < OUT_W;
    base[j] = n * SRC_C * srcPlane;
    dst[j] = (n * OUT_C * OUT_H + oy) * OUT_W + ox;
  }

  // Clamped channel rows keep the loads of a partial block in bounds; those results are not stored.
  var wrow: array<u32, 16>;
  for (var i = 0u; i < CB; i++) {
    wrow[i] = min(co0 + i, OUT_C - 1u) * WS_OUT;
  }

  var acc: array<f32, 128>; // [CB][PB]
  var kh0 = 0u;
  var kw0 = 0u;
  var kstep = 1u;
  if (MODE == 1u) {
    kh0 = (rh + PAD) % s;
    kw0 = (rw + PAD) % s;
    kstep = s;
  }
  for (var kh = kh0; kh < KH; kh += kstep) {
    var dy: i32;
    if (MODE == 0u) { dy = i32(kh) - i32(PAD); } else { dy = (i32(rh + PAD) - i32(kh)) / i32(s); }
    for (var kw = kw0; kw < KW; kw += kstep) {
      var dx: i32;
      if (MODE == 0u) { dx = i32(kw) - i32(PAD); } else { dx = (i32(rw + PAD) - i32(kw)) / i32(s); }
      var off: array<u32, 8>;
      var v: array<bool, 8>;
      for (var j = 0u; j < PB; j++) {
        let sy = qy[j] + dy;
        let sx = qx[j] + dx;
        v[j] = ok[j] && sy >= 0 && sy < i32(SRC_H) && sx >= 0 && sx < i32(SRC_W);
        off[j] = select(0u, base[j] + u32(sy) * SRC_W + u32(sx), v[j]);
      }
      var wo = kh * KW + kw;
      for (var c = 0u; c < SRC_C; c++) {
        var xv: array<f32, 8>;
        for (var j = 0u; j < PB; j++) {
          xv[j] = select(0.0, src[off[j]], v[j]);
          off[j] += srcPlane;
        }
        for (var i = 0u; i < CB; i++) {
          let wv = w[wrow[i] + wo];
          for (var j = 0u; j < PB; j++) {
            acc[i * PB + j] = fma(wv, xv[j], acc[i * PB + j]);
          }
        }
        wo += WS_RED;
      }
    }
  }

  for (var i = 0u; i < CB; i++) {
    let co = co0 + i;
    if (co >= OUT_C) { break; }
    var b = 0.0;
    if (HAS_BIAS) { b = bias[co]; }
    for (var j = 0u; j < PB; j++) {
      if (ok[j]) {
        let d = dst[j] + co * outPlane;
        var r = acc[i * PB + j] + b;
        if (HAS_RESIDUAL) { r += res[d]; }
        if (RELU) { r = max(r, 0.0); }
        out[d] = r;
      }
    }
  }
}
