// In-place SGD step with momentum and weight decay, torch.optim.SGD's rule (dampening 0):
//   g = grad + wd·param;  buf = momentum·buf + g;  g = NESTEROV ? g + momentum·buf : buf;  param -= lr·g
// A zero-initialised buf gives buf = g on the first step, as PyTorch's clone of the first gradient does.
override NESTEROV: bool = false;

struct Params { n: u32, lr: f32, momentum: f32, wd: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let w = param[i];
  let g = fma(p.wd, w, grad[i]);
  let b = fma(p.momentum, buf[i], g);
  buf[i] = b;
  let step = select(b, fma(p.momentum, b, g), NESTEROV);
  param[i] = fma(-p.lr, step, w);
}
