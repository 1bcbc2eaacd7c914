// Uniforms (p) and buffers are declared in engine/ops/pool.ts (see engine/kernel.ts).
// Global average pooling over H·W of an NCHW tensor, and its backward.
//   forward (GRAD = false): out[i] = mean of inp[i·HW .. i·HW + HW) for each of the N·C planes; HW is a
//     feature map's size (64 in a CIFAR WideResNet), so one invocation per plane is enough.
//   backward (GRAD = true): out[i] = inp[i / HW] / HW for each of the N·C·HW elements.
override GRAD: bool = false;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 256u + lid;
  let hw = f32(p.hw);
  if (GRAD) {
    if (i < p.planes * p.hw) { out[i] = inp[i / p.hw] / hw; }
    return;
  }
  if (i >= p.planes) { return; }
  let base = i * p.hw;
  var acc = 0.0;
  for (var s = 0u; s < p.hw; s++) { acc += inp[base + s]; }
  out[i] = acc / hw;
}
