// Uniforms (p) and buffers are declared in engine/ops/loss.ts (see engine/kernel.ts).
// The softmax KL divergence of two logit tensors p, q [n, k] (buffers zp, zq), row by row:
// KL_i = KL(softmax(p_i) || softmax(q_i))
// = sum_j P_ij (log P_ij - log Q_ij), PyTorch's KLDivLoss(log_softmax(q), softmax(p)) summed over a row. One
// invocation per row, as in xent.wgsl (k is small, rows are independent). Both log-softmaxes subtract the row
// max before exp, so no logit overflows; a P_ij that underflows to 0 contributes 0 (like torch.xlogy).
//   forward:  out[i] = KL_i
//   backward: d[i, j] = g_i · dKL_i/dp_ij = g_i · P_ij (log P_ij - log Q_ij - KL_i)    (WRT 0)
//             d[i, j] = g_i · dKL_i/dq_ij = g_i · (Q_ij - P_ij)                        (WRT 1)
//     with g_i = scale·dy[i] (DY_PER_ROW) or scale·dy[0] (a sum's or mean's single cotangent).
override WRT: u32 = 0u;
override DY_PER_ROW: bool = true;
const WG: u32 = 64u;

fn row_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return group_index(wid, nwg) * WG + lid;
}

// logsumexp of row `base` of p (which 0) or q (which 1), with the row max subtracted: m + log(s), s in [1, k].
fn logsumexp(which: u32, base: u32) -> f32 {
  var m = select(zp[base], zq[base], which == 1u);
  for (var j = 1u; j < p.k; j++) { m = max(m, select(zp[base + j], zq[base + j], which == 1u)); }
  var s = 0.0;
  for (var j = 0u; j < p.k; j++) { s += exp(select(zp[base + j], zq[base + j], which == 1u) - m); }
  return m + log(s);
}

// KL_i from the rows' logsumexps.
fn kl_row(base: u32, lp: f32, lq: f32) -> f32 {
  var r = 0.0;
  for (var j = 0u; j < p.k; j++) {
    let logp = zp[base + j] - lp;
    r += exp(logp) * (logp - (zq[base + j] - lq));
  }
  return r;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let i = row_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let base = i * p.k;
  out[i] = kl_row(base, logsumexp(0u, base), logsumexp(1u, base));
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = row_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let base = i * p.k;
  let g = p.scale * dy[select(0u, i, DY_PER_ROW)];
  let lp = logsumexp(0u, base);
  let lq = logsumexp(1u, base);
  if (WRT == 0u) {
    let kl = kl_row(base, lp, lq);
    for (var j = 0u; j < p.k; j++) {
      let logp = zp[base + j] - lp;
      d[base + j] = g * exp(logp) * (logp - (zq[base + j] - lq) - kl);
    }
  } else {
    for (var j = 0u; j < p.k; j++) {
      d[base + j] = g * (exp(zq[base + j] - lq) - exp(zp[base + j] - lp));
    }
  }
}
