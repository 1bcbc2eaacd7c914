// out[i] = sum over k < L of src[i * strideI + k * strideK], in a fixed order (deterministic).
// Sums the per-chunk partial weight gradients (strideI = 1, strideK = chunk size), and the planes of dy for
// the bias gradient (strideI = plane, strideK = 1).
struct Params { count: u32, L: u32, strideI: u32, strideK: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.count) { return; }
  var o = i * p.strideI;
  var sum = 0.0;
  for (var k = 0u; k < p.L; k++) {
    sum += src[o];
    o += p.strideK;
  }
  out[i] = sum;
}
