// Uniforms (p) and buffers are declared in engine/ops/elementwise.ts (see engine/kernel.ts).
// y = f(x), elementwise. OP picks f; a and b are its scalar arguments.
//   0: a*x + b   1: relu   2: sign   3: clamp(x, a, b)
override OP: u32 = 0u;

// Four elements per invocation as vec4s, as binary.wgsl (the buffers hold whole vec4s). The last quad keeps y's
// elements at n and beyond: assignPrefix writes into the first n elements of a larger tensor.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let q = group_index(wid, nwg) * 256u + lid;
  if (4u * q >= p.n) { return; }
  let v = x4[q];
  var r: vec4f;
  switch OP {
    case 1u: { r = max(v, vec4f(0.0)); }
    case 2u: { r = sign(v); }
    case 3u: { r = clamp(v, vec4f(p.a), vec4f(p.b)); }
    default: { r = fma(vec4f(p.a), v, vec4f(p.b)); }
  }
  if (4u * q + 4u > p.n) {
    r = select(y4[q], r, vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u) < vec4u(p.n));
  }
  y4[q] = r;
}
