// Uniforms (p) and buffers are declared in bench/roofline.ts (see engine/kernel.ts).
// Probes of the adapter's two ceilings, for the benchmarks' roofline:
//   fma_peak  CHAINS independent fma chains per invocation, p.iters steps each, all in registers (no memory
//             traffic but one store per invocation, which keeps the work alive). The chains are independent so
//             the FMA latency is hidden; more than the registers hold spills (64 does on lavapipe).
//   copy      dst = src in vec4 elements: the bandwidth of a streaming kernel.
//   fed, fed4 the inner loop of conv2d.wgsl without its index arithmetic: a PB x CB register block per
//             invocation, fed each step by PB loads whose address differs per invocation (the conv's pixel
//             gathers; fed4 loads them as PB/4 vec4s of consecutive pixels instead) and CB loads at one
//             address for the whole workgroup (the conv's weights), from a buffer small enough to stay in cache.
//             Its rate is what a register-blocked GEMM fed from memory can reach on the adapter, the ceiling the
//             conv kernels actually face.
override CHAINS: u32 = 32u; // <= 32
override WG: u32 = 64u;
override PB: u32 = 8u; // <= 16, a multiple of 4 for fed4
override CB: u32 = 16u; // PB·CB <= 256

@compute @workgroup_size(WG)
fn fma_peak(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * WG + lid;
  var acc: array<f32, 32>;
  for (var c = 0u; c < CHAINS; c++) { acc[c] = f32(i + c); }
  for (var t = 0u; t < p.iters; t++) {
    for (var c = 0u; c < CHAINS; c++) { acc[c] = fma(acc[c], p.a, p.b); }
  }
  var s = 0.0;
  for (var c = 0u; c < CHAINS; c++) { s += acc[c]; }
  sink[i] = s;
}

@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * WG + lid;
  if (i < p.quads) { dst[i] = src[i]; }
}

// Sums the block so that no accumulator is dead code.
fn block_sum(acc: ptr<function, array<f32, 256>>) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < PB * CB; k++) { s += (*acc)[k]; }
  return s;
}

@compute @workgroup_size(WG)
fn fed(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * WG + lid;
  // p.quads is the buffer's length in vec4s, a power of two.
  let mask = 4u * p.quads - 1u;
  let first = (group_index(wid, nwg) * WG * PB + lid) & mask;
  var acc: array<f32, 256>;
  for (var t = 0u; t < p.iters; t++) {
    var xv: array<f32, 16>;
    for (var j = 0u; j < PB; j++) { xv[j] = xs[(first + j * WG + t * 64u) & mask]; }
    for (var c = 0u; c < CB; c++) {
      let wv = ws[(t * CB + c) & mask];
      for (var j = 0u; j < PB; j++) { acc[c * PB + j] = fma(wv, xv[j], acc[c * PB + j]); }
    }
  }
  sink[i] = block_sum(&acc);
}

@compute @workgroup_size(WG)
fn fed4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * WG + lid;
  let qmask = p.quads - 1u;
  let mask = 4u * p.quads - 1u;
  let first = (i * (PB / 4u)) & qmask;
  var acc: array<f32, 256>;
  for (var t = 0u; t < p.iters; t++) {
    var xv: array<f32, 16>;
    for (var j = 0u; j < PB / 4u; j++) {
      let q = xs4[(first + j + t * 16u) & qmask];
      xv[4u * j] = q.x;
      xv[4u * j + 1u] = q.y;
      xv[4u * j + 2u] = q.z;
      xv[4u * j + 3u] = q.w;
    }
    for (var c = 0u; c < CB; c++) {
      let wv = ws[(t * CB + c) & mask];
      for (var j = 0u; j < PB; j++) { acc[c * PB + j] = fma(wv, xv[j], acc[c * PB + j]); }
    }
  }
  sink[i] = block_sum(&acc);
}
