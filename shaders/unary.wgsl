// y = f(x), elementwise. OP picks f; a and b are its scalar arguments.
//   0: a*x + b   1: relu   2: sign   3: clamp(x, a, b)
override OP: u32 = 0u;

struct Params { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  switch OP {
    case 1u: { y[i] = max(v, 0.0); }
    case 2u: { y[i] = sign(v); }
    case 3u: { y[i] = clamp(v, p.a, p.b); }
    default: { y[i] = fma(p.a, v, p.b); }
  }
}
