// Uniforms (p) and buffers are declared in engine/ops/loss.ts (see engine/kernel.ts).
// Row kernels over logits z [n, k] with integer labels [n]: one invocation per row, since k (the number of
// classes: 10 or 100 here) is small and rows are independent, so a row needs no workgroup memory or barriers.
// Entry points:
//   forward:  out[i] = per-row value, LOSS picks it:
//     0: softmax cross-entropy  logsumexp(z_i) - z_iy, with the row max subtracted before exp (no overflow)
//     1: Carlini-Wagner margin  max_{j != y} z_ij - z_iy
//     2: correct                1.0 where argmax_j z_ij == y_i, else 0.0
//   backward: dz[i, j] = g_i · d(loss_i)/d(z_ij), with g_i = scale·dy[i] (DY_PER_ROW) or scale·dy[0]
//     (a mean's single cotangent, scale = 1/n). Cross-entropy recomputes the softmax from the saved logits.
//   argmax:   idx[i] = argmax_j z_ij
// Ties everywhere go to the lowest index (strict > while scanning upwards), like torch.argmax.
// A label outside [0, k) (possible only for labels computed on the GPU; host labels are checked by the op)
// makes its row's loss and gradient NaN, so it cannot go unnoticed; for LOSS 2 the row simply counts as wrong.
override LOSS: u32 = 0u;
override DY_PER_ROW: bool = true;
const WG: u32 = 64u;

// A quiet NaN built at run time: a NaN constant expression is a shader-creation error in WGSL.
var<private> nan_bits: u32 = 0x7fc00000u;

fn row_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return group_index(wid, nwg) * WG + lid;
}

// The label of row i, or -1 when it is out of range.
fn label(i: u32) -> i32 {
  let y = labels[i];
  return select(-1, y, y >= 0 && y < i32(p.k));
}

// (row max m, sum_j exp(z_j - m)): logsumexp = m + log(s), with s in [1, k].
fn max_sumexp(base: u32) -> vec2f {
  var m = z[base];
  for (var j = 1u; j < p.k; j++) { m = max(m, z[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.k; j++) { s += exp(z[base + j] - m); }
  return vec2f(m, s);
}

// The index of the largest z_j over j != skip (pass skip = k to skip nothing); needs k >= 2 if skip < k.
fn argmax_except(base: u32, skip: u32) -> u32 {
  var best = select(0u, 1u, skip == 0u);
  var v = z[base + best];
  for (var j = best + 1u; j < p.k; j++) {
    let u = z[base + j];
    if (j != skip && u > v) { best = j; v = u; }
  }
  return best;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let i = row_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let base = i * p.k;
  let y = label(i);
  let zy = z[base + u32(max(y, 0))];
  var r: f32;
  switch LOSS {
    case 1u: { r = z[base + argmax_except(base, u32(max(y, 0)))] - zy; }
    case 2u: { r = select(0.0, 1.0, i32(argmax_except(base, p.k)) == y); }
    default: {
      let ms = max_sumexp(base);
      r = (ms.x - zy) + log(ms.y);
    }
  }
  out[i] = select(r, bitcast<f32>(nan_bits), y < 0 && LOSS != 2u);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = row_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let base = i * p.k;
  let y = label(i);
  let g = p.scale * dy[select(0u, i, DY_PER_ROW)];
  let nan = bitcast<f32>(nan_bits);
  let uy = u32(y);
  if (LOSS == 1u) {
    let jb = argmax_except(base, u32(max(y, 0)));
    for (var j = 0u; j < p.k; j++) {
      let d = select(0.0, g, j == jb) - select(0.0, g, j == uy);
      dz[base + j] = select(d, nan, y < 0);
    }
  } else {
    let ms = max_sumexp(base);
    let inv = 1.0 / ms.y;
    for (var j = 0u; j < p.k; j++) {
      let d = (exp(z[base + j] - ms.x) * inv - select(0.0, 1.0, j == uy)) * g;
      dz[base + j] = select(d, nan, y < 0);
    }
  }
}

@compute @workgroup_size(WG)
fn argmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let i = row_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  idx[i] = i32(argmax_except(i * p.k, p.k));
}
