// Uniforms (p) and buffers are declared in engine/ops/loss.ts (see engine/kernel.ts).
// Row kernels over logits z [n, k] with integer labels [n]: one invocation per row, since k (the number of
// classes: 10 or 100 here) is small and rows are independent, so a row needs no workgroup memory or barriers.
// Entry points:
//   forward:  out[i] = per-row value, LOSS picks it:
//     0: softmax cross-entropy  logsumexp(z_i) - z_iy, with the row max subtracted before exp (no overflow)
//     1: Carlini-Wagner margin  max_{j != y} z_ij - z_iy
//     2: correct                1.0 where argmax_j z_ij == y_i, else 0.0
//     3: DLR (Croce & Hein 2020) -(z_y - z_o) / (z_pi1 - z_pi3 + 1e-12), logits sorted z_pi1 >= z_pi2 >= ...,
//        z_o = z_pi2 where the top class is y, else z_pi1 (needs k >= 3)
//     4: targeted DLR            -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2 + 1e-12), t = targets[i] (needs k >= 4)
//     5: logit difference        z_t - z_y (FAB's linearised decision function towards target t)
//   Losses 0-3 ignore the targets buffer (the op binds the labels there).
//   backward: dz[i, j] = g_i · d(loss_i)/d(z_ij), with g_i = scale·dy[i] (DY_PER_ROW) or scale·dy[0]
//     (a mean's single cotangent, scale = 1/n). Cross-entropy recomputes the softmax from the saved logits.
//   argmax:   idx[i] = argmax_j z_ij
// Ties everywhere go to the lowest index (for the DLR ranks too) (strict > while scanning upwards), like torch.argmax.
// A label outside [0, k) (possible only for labels computed on the GPU; host labels are checked by the op)
// makes its row's loss and gradient NaN, so it cannot go unnoticed; for LOSS 2 the row simply counts as wrong.
// A target outside [0, k) does the same for LOSS 4 and 5.
override LOSS: u32 = 0u;
override DY_PER_ROW: bool = true;
const WG: u32 = 64u;

// A quiet NaN built at run time: a NaN constant expression is a shader-creation error in WGSL.
var<private> nan_bits: u32 = 0x7fc00000u;

fn row_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return group_index(wid, nwg) * WG + lid;
}

// A label or target v checked against [0, k): -1 when out of range.
fn in_range(v: i32) -> i32 {
  return select(-1, v, v >= 0 && v < i32(p.k));
}

// The label of row i, or -1 when it is out of range.
fn label(i: u32) -> i32 {
  return in_range(labels[i]);
}

fn targeted() -> bool {
  return LOSS == 4u || LOSS == 5u;
}

// The indices of the four largest z_j, largest first (lowest index first on ties); entries past k stay at 0.
fn top4(base: u32) -> array<u32, 4> {
  var ix = array<u32, 4>(0u, 0u, 0u, 0u);
  var n = 0u;
  for (var j = 0u; j < p.k; j++) {
    let v = z[base + j];
    // Insertion: j moves up past every kept entry it strictly exceeds, so equal values keep index order.
    var pos = min(n, 4u);
    while (pos > 0u && v > z[base + ix[pos - 1u]]) {
      if (pos < 4u) { ix[pos] = ix[pos - 1u]; }
      pos--;
    }
    if (pos < 4u) { ix[pos] = j; }
    n++;
  }
  return ix;
}

// DLR's numerator index o (the class compared with y; the target for LOSS 4) and denominator D.
struct Dlr { o: u32, d: f32, top: array<u32, 4> }

fn dlr(base: u32, y: u32, t: u32) -> Dlr {
  let top = top4(base);
  if (LOSS == 4u) {
    return Dlr(t, z[base + top[0]] - 0.5 * (z[base + top[2]] + z[base + top[3]]) + 1e-12, top);
  }
  let o = select(top[0], top[1], top[0] == y);
  return Dlr(o, z[base + top[0]] - z[base + top[2]] + 1e-12, top);
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
  let t = select(0, in_range(targets[i]), targeted());
  let uy = u32(max(y, 0));
  let zy = z[base + uy];
  var r: f32;
  switch LOSS {
    case 1u: { r = z[base + argmax_except(base, uy)] - zy; }
    case 2u: { r = select(0.0, 1.0, i32(argmax_except(base, p.k)) == y); }
    case 3u, 4u: {
      let q = dlr(base, uy, u32(max(t, 0)));
      r = -(zy - z[base + q.o]) / q.d;
    }
    case 5u: { r = z[base + u32(max(t, 0))] - zy; }
    default: {
      let ms = max_sumexp(base);
      r = (ms.x - zy) + log(ms.y);
    }
  }
  out[i] = select(r, bitcast<f32>(nan_bits), (y < 0 && LOSS != 2u) || t < 0);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = row_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let base = i * p.k;
  let y = label(i);
  let t = select(0, in_range(targets[i]), targeted());
  let g = p.scale * dy[select(0u, i, DY_PER_ROW)];
  let nan = bitcast<f32>(nan_bits);
  let bad = y < 0 || t < 0;
  let uy = u32(y);
  if (LOSS == 1u || LOSS == 5u) {
    // Both are z_a - z_y: a is the runner-up for the margin, the target for the logit difference.
    let ja = select(argmax_except(base, u32(max(y, 0))), u32(max(t, 0)), LOSS == 5u);
    for (var j = 0u; j < p.k; j++) {
      let d = select(0.0, g, j == ja) - select(0.0, g, j == uy);
      dz[base + j] = select(d, nan, bad);
    }
  } else if (LOSS == 3u || LOSS == 4u) {
    // loss = -(z_y - z_o)/D: d/dz_y = -1/D, d/dz_o = 1/D, d/dD = (z_y - z_o)/D², spread over D's terms.
    let q = dlr(base, u32(max(y, 0)), u32(max(t, 0)));
    let inv = 1.0 / q.d;
    let dd = (z[base + u32(max(y, 0))] - z[base + q.o]) * inv * inv;
    // D's coefficients on pi1, pi3, pi4: (1, -1, 0) for DLR, (1, -1/2, -1/2) targeted.
    let c3 = select(-1.0, -0.5, LOSS == 4u);
    let c4 = select(0.0, -0.5, LOSS == 4u);
    for (var j = 0u; j < p.k; j++) {
      var d = select(0.0, inv, j == q.o) - select(0.0, inv, j == uy);
      d += dd * (select(0.0, 1.0, j == q.top[0]) + select(0.0, c3, j == q.top[2]) + select(0.0, c4, j == q.top[3]));
      dz[base + j] = select(d * g, nan, bad);
    }
  } else {
    let ms = max_sumexp(base);
    let inv = 1.0 / ms.y;
    for (var j = 0u; j < p.k; j++) {
      let d = (exp(z[base + j] - ms.x) * inv - select(0.0, 1.0, j == uy)) * g;
      dz[base + j] = select(d, nan, bad);
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
