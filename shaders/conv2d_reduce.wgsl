// Uniforms (p) and buffers are declared in engine/ops/conv2d.ts (see engine/kernel.ts).
// out[i] = sum over k < L of src[i * strideI + k * strideK], in a fixed order (deterministic).
// Sums the per-chunk partial weight gradients (strideI = 1, strideK = chunk size), and the planes of dy for
// the bias gradient (strideI = plane, strideK = 1).

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 64u + lid;
  if (i >= p.count) { return; }
  var o = i * p.strideI;
  var sum = 0.0;
  for (var k = 0u; k < p.L; k++) {
    sum += src[o];
    o += p.strideK;
  }
  out[i] = sum;
}
