// Uniforms (p) and buffers are declared in engine/ops/elementwise.ts (see engine/kernel.ts).
// Fills y without reading anything. OP: 0 constant a; 1 uniform in [a, b); 2 normal with mean a, std b.
// Random numbers are a counter-based hash of (seed, element index), so a value never depends on the
// dispatch order, the workgroup size or the adapter.
override OP: u32 = 0u;

// PCG-style integer hash (Jarzynski & Olano 2020, "Hash Functions for GPU Rendering"), chained for 3 keys.
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Uniform in (0, 1]: 24 random bits, never 0 so log() below is finite.
fn uniform01(i: u32, k: u32) -> f32 {
  let h = pcg(pcg(pcg(p.seed) ^ p.stream) ^ (i * 2u + k));
  return (f32(h >> 8u) + 1.0) * (1.0 / 16777216.0);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  switch OP {
    case 1u: { y[i] = p.a + (p.b - p.a) * (1.0 - uniform01(i, 0u)); }
    case 2u: {
      // Box-Muller on two independent uniforms of this element.
      let r = sqrt(-2.0 * log(uniform01(i, 0u)));
      y[i] = p.a + p.b * r * cos(6.283185307179586 * uniform01(i, 1u));
    }
    default: { y[i] = p.a; }
  }
}
