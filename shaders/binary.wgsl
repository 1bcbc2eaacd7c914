// Uniforms (p) and buffers are declared in engine/ops/elementwise.ts (see engine/kernel.ts).
// out = f(x, y), elementwise on equal shapes. OP picks f; a and b are its scalar arguments.
//   0: a*x + b*y   1: x*y   2: x * (y > 0)  (ReLU backward: x = dy, y = the ReLU's output)
//   3: x * (a <= y <= b)  (clamp backward: x = dy, y = the clamp's input; PyTorch's inclusive mask)
//   4: clamp(x + a*sign(y), -b, b)  (signed-gradient step of a perturbation x inside the L-inf ball b)
override OP: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let u = x[i];
  let v = y[i];
  switch OP {
    case 1u: { out[i] = u * v; }
    case 2u: { out[i] = select(0.0, u, v > 0.0); }
    case 3u: { out[i] = select(0.0, u, v >= p.a && v <= p.b); }
    case 4u: { out[i] = clamp(u + p.a * sign(v), -p.b, p.b); }
    default: { out[i] = p.a * u + p.b * v; }
  }
}
