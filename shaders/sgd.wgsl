// Uniforms (p) and buffers are declared in engine/ops/sgd.ts (see engine/kernel.ts).
// In-place SGD step with momentum and weight decay, torch.optim.SGD's rule (dampening 0):
//   g = grad + wd·param;  buf = momentum·buf + g;  g = NESTEROV ? g + momentum·buf : buf;  param -= lr·g
// A zero-initialised buf gives buf = g on the first step, as PyTorch's clone of the first gradient does.
override NESTEROV: bool = false;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let w = param[i];
  let g = fma(p.wd, w, grad[i]);
  let b = fma(p.momentum, buf[i], g);
  buf[i] = b;
  let step = select(b, fma(p.momentum, b, g), NESTEROV);
  param[i] = fma(-p.lr, step, w);
}
