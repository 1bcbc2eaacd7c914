// Uniforms (p) and buffers are declared in engine/ops/optimizer.ts (see engine/kernel.ts).
// In-place Adam step, torch.optim.Adam's rule (amsgrad off; weight decay added to the gradient, not AdamW):
//   g = grad + wd·param;  m = m + (1 − β1)·(g − m)  (PyTorch's lerp);  v = β2·v + (1 − β2)·g²
//   param -= stepSize · m / (sqrt(v) / bc2Sqrt + eps),  stepSize = lr / (1 − β1^t),  bc2Sqrt = sqrt(1 − β2^t)
// Zero-initialised moments give m = (1 − β1)·g and v = (1 − β2)·g² on step 1, as PyTorch's zeros_like state does.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let w = param[i];
  let g = fma(p.wd, w, grad[i]);
  let m0 = expAvg[i];
  let m = fma(p.b1c, g - m0, m0);
  let v = fma(p.b2c, g * g, p.beta2 * expAvgSq[i]);
  expAvg[i] = m;
  expAvgSq[i] = v;
  param[i] = w - p.stepSize * (m / (sqrt(v) / p.bc2Sqrt + p.eps));
}
