// Uniforms (p) and buffers are declared in bench/roofline.ts (see engine/kernel.ts).
// Probes of the adapter's two ceilings, for the benchmarks' roofline:
//   fma_peak  CHAINS independent fma chains per invocation, p.iters steps each, all in registers (no memory
//             traffic but one store per invocation, which keeps the work alive). The chains are independent so
//             the FMA latency is hidden; more than the registers hold spills (64 does on lavapipe).
//   copy      dst = src in vec4 elements: the bandwidth of a streaming kernel.
override CHAINS: u32 = 32u; // <= 32
override WG: u32 = 64u;

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
