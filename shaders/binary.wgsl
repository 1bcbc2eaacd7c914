// Uniforms (p) and buffers are declared in engine/ops/elementwise.ts (see engine/kernel.ts).
// out = f(x, y), elementwise on equal shapes. OP picks f; a and b are its scalar arguments.
//   0: a*x + b*y   1: x*y   2: x * (y > 0)  (ReLU backward: x = dy, y = the ReLU's output)
//   3: x * (a <= y <= b)  (clamp backward: x = dy, y = the clamp's input; PyTorch's inclusive mask)
//   4: clamp(x + a*sign(y), -b, b)  (signed-gradient step of a perturbation x inside the L-inf ball b)
override OP: u32 = 0u;

// Four elements per invocation as vec4s (a vec4 copy moves 2.4x the bytes of an f32 copy on lavapipe). The
// output's buffer holds whole vec4s (the pool's size classes are multiples of 16 bytes), so the last one may
// run into its unused tail; the inputs' tails are read and discarded.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let q = group_index(wid, nwg) * 256u + lid;
  if (4u * q >= p.n) { return; }
  let u = x4[q];
  let v = y4[q];
  let zero = vec4f(0.0);
  switch OP {
    case 1u: { out4[q] = u * v; }
    case 2u: { out4[q] = select(zero, u, v > zero); }
    case 3u: { out4[q] = select(zero, u, (v >= vec4f(p.a)) & (v <= vec4f(p.b))); }
    case 4u: { out4[q] = clamp(u + p.a * sign(v), vec4f(-p.b), vec4f(p.b)); }
    default: { out4[q] = p.a * u + p.b * v; }
  }
}
