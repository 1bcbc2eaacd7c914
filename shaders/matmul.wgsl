// C[b] = op(A[b]) · op(B[b]) (+ bias[n]), op = optional transpose, chosen by the TA/TB overrides.
// A 64x64 output tile per workgroup of 16x16 invocations, each holding a 4x4 register block; K advances in
// slices of 16 staged through workgroup memory as vec4 rows, so the inner loop is 4 vec4 FMAs per pair of
// loads. Out-of-range rows and columns load zeros and are not stored, so no size needs to divide the tile.
// Batch strides of 0 broadcast an operand over the batch (workgroup z).
override TA: bool = false;
override TB: bool = false;
override HAS_BIAS: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  strideA: u32,
  strideB: u32,
  strideC: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TK = 16u;
var<workgroup> As: array<vec4f, 256>; // [TK][64 rows / 4]
var<workgroup> Bs: array<vec4f, 256>; // [TK][64 cols / 4]

fn loadA(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TA) { return a[base + k * p.M + m]; }
  return a[base + m * p.K + k];
}

fn loadB(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TB) { return b[base + n * p.K + k]; }
  return b[base + k * p.N + n];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * 64u;
  let n0 = wid.x * 64u;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;
  // Staging: invocation li fills slot li of each tile: k = li / 16, four rows (or columns) from (li % 16)·4.
  let sk = li / 16u;
  let s4 = (li % 16u) * 4u;

  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    let k = k0 + sk;
    As[li] = vec4f(loadA(baseA, m0 + s4, k), loadA(baseA, m0 + s4 + 1u, k),
                   loadA(baseA, m0 + s4 + 2u, k), loadA(baseA, m0 + s4 + 3u, k));
    Bs[li] = vec4f(loadB(baseB, k, n0 + s4), loadB(baseB, k, n0 + s4 + 1u),
                   loadB(baseB, k, n0 + s4 + 2u), loadB(baseB, k, n0 + s4 + 3u));
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let av = As[kk * 16u + lid.y];
      let bv = Bs[kk * 16u + lid.x];
      acc[0] = fma(vec4f(av.x), bv, acc[0]);
      acc[1] = fma(vec4f(av.y), bv, acc[1]);
      acc[2] = fma(vec4f(av.z), bv, acc[2]);
      acc[3] = fma(vec4f(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }

  let col = n0 + lid.x * 4u;
  var bv = vec4f(0.0);
  if (HAS_BIAS) {
    for (var j = 0u; j < 4u; j++) {
      if (col + j < p.N) { bv[j] = bias[col + j]; }
    }
  }
  let baseC = wid.z * p.strideC;
  for (var i = 0u; i < 4u; i++) {
    let row = m0 + lid.y * 4u + i;
    if (row >= p.M) { break; }
    let v = acc[i] + bv;
    for (var j = 0u; j < 4u; j++) {
      if (col + j < p.N) { c[baseC + row * p.N + col + j] = v[j]; }
    }
  }
}
