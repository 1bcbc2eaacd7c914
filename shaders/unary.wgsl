// Uniforms (p) and buffers are declared in engine/ops/elementwise.ts (see engine/kernel.ts).
// y = f(x), elementwise. OP picks f; a and b are its scalar arguments.
//   0: a*x + b   1: relu   2: sign   3: clamp(x, a, b)
override OP: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  switch OP {
    case 1u: { y[i] = max(v, 0.0); }
    case 2u: { y[i] = sign(v); }
    case 3u: { y[i] = clamp(v, p.a, p.b); }
    default: { y[i] = fma(p.a, v, p.b); }
  }
}
