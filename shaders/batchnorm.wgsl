// Uniforms (p) and buffers are declared in engine/ops/batchnorm.ts (see engine/kernel.ts).
// Batch normalization per channel over (N, H, W) of an NCHW tensor ([N, C] is the case H·W = 1), PyTorch
// semantics. `saved` holds [mean | invstd], 2·C floats, x̂ = (x - mean)·invstd, M = N·H·W, and
// dy' = dy·(gamma·x̂ + beta > 0) with the fused ReLU (RELU), dy' = dy without it. Entry points:
//   stats            training: one workgroup per channel: two passes over x (mean, then the sum of squared
//                    deviations: stable, unlike E[x²] - E[x]² in fp32) → saved; running statistics updated in
//                    place with the unbiased variance. EVAL: saved from the running statistics, one channel per
//                    invocation, so the backward keeps the values the forward used.
//   normalize        y = gamma·x̂ + beta, then max(0, y) with RELU.
//   grad_sums        one workgroup per channel: sum(dy') → dbeta, sum(dy'·x̂) → dgamma.
//   grad_input       training: dx = gamma·invstd·(dy' - (sum(dy') + x̂·sum(dy'·x̂)) / M).
//   grad_input_eval  eval: the statistics are constants, dx = gamma·invstd·dy'.
// The double backward of training mode's dx = gamma·s·(g - (Sg + x̂·Sgx) / M) (s = invstd, g = dy', Sg = sum(g),
// Sgx = sum(g·x̂)): for a cotangent u of dx, with Su = sum(u), P = sum(u·x̂), Q = Sgx, A = sum(u·g) - Su·Sg/M,
//   d<u, dx>/dg     = gamma·s·(u - (Su + x̂·P) / M)                     (the first backward's form, on u)
//   d<u, dx>/dgamma = s·(A - P·Q/M)
//   d<u, dx>/dx     = gamma·s²/M·(-Q·u - P·g + (Su·Q + Sg·P)/M + x̂·(3·P·Q/M - A))
// (x̂ and s depend on x through the batch mean and variance: ds/dx_i = -s²·x̂_i/M,
// dx̂_j/dx_i = s·(δij - 1/M) - s·x̂_i·x̂_j/M.) Entry points:
//   double_sums      one workgroup per channel: Su, P and sum(u·g), then the per-channel coefficients of the
//                    two elementwise results (without gamma) and d<u, dx>/dgamma.
//   double_input     both elementwise results in one pass: d/dg and d/dx.
override RELU: bool = false;
override EVAL: bool = false;
// grad_input, grad_input_eval: dx += res (the tape's gradient accumulated for x so far), in the same store.
override HAS_RESIDUAL: bool = false;
// Workgroup size of the per-channel reductions (a power of two).
override WG: u32 = 64u;

var<workgroup> red: array<vec2f, WG>;

// Sums v over the workgroup (tree in workgroup memory); every invocation gets the total.
fn tree_sum(lid: u32, v: vec2f) -> vec2f {
  red[lid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] += red[lid + s]; }
  }
  workgroupBarrier();
  let total = red[0];
  workgroupBarrier(); // red is reused by the next tree_sum
  return total;
}

// The per-channel reductions read channel c's elements as the vec4s of its N planes of H·W: invocation lid
// takes j = lid, lid + WG, ... < N·QP, plane n = j / QP and that plane's (j % QP)-th quad. QP, the quads per
// plane, is an override constant (the division compiles to a multiply and shift); when H·W is not a multiple
// of 4 a plane may start inside a quad, so QP = H·W/4 + 2 covers it and the components outside the plane
// are masked off (they belong to other channels, or lie past the tensor's end).
override QP: u32 = 1u;

struct Quad { q: u32, ok: vec4<bool> }

fn plane_quad(c: u32, j: u32) -> Quad {
  let n = j / QP;
  let base = (n * p.c + c) * p.hw;
  let q = base / 4u + (j - n * QP);
  let e = vec4u(4u * q) + vec4u(0u, 1u, 2u, 3u);
  // A quad past the tensor's last one is all masked (e >= base + H·W); it loads the last one instead.
  return Quad(min(q, (p.n * p.c * p.hw - 1u) / 4u), (e >= vec4u(base)) & (e < vec4u(base + p.hw)));
}

@compute @workgroup_size(WG)
fn stats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_index) lid: u32) {
  if (EVAL) {
    let c = group_index(wid, nwg) * WG + lid;
    if (c < p.c) {
      saved_out[c] = run_mean[c];
      saved_out[p.c + c] = 1.0 / sqrt(run_var[c] + p.eps);
    }
    return;
  }
  let c = group_index(wid, nwg);
  if (c >= p.c) { return; }
  let m = p.n * p.hw;
  let count = p.n * QP;
  var acc = vec4f(0.0);
  for (var j = lid; j < count; j += WG) {
    let a = plane_quad(c, j);
    acc += select(vec4f(0.0), x4[a.q], a.ok);
  }
  let mean = tree_sum(lid, vec2f(dot(acc, vec4f(1.0)), 0.0)).x / f32(m);
  acc = vec4f(0.0);
  for (var j = lid; j < count; j += WG) {
    let a = plane_quad(c, j);
    let d = select(vec4f(0.0), x4[a.q] - mean, a.ok);
    acc = fma(d, d, acc);
  }
  let ssd = tree_sum(lid, vec2f(dot(acc, vec4f(1.0)), 0.0)).x;
  if (lid == 0u) {
    let biased = ssd / f32(m);
    saved_out[c] = mean;
    saved_out[p.c + c] = 1.0 / sqrt(biased + p.eps);
    // mix(a, b, t) = a·(1 - t) + b·t: PyTorch's running = (1 - momentum)·running + momentum·batch.
    run_mean[c] = mix(run_mean[c], mean, p.momentum);
    run_var[c] = mix(run_var[c], ssd / f32(m - 1u), p.momentum);
  }
}

// The elementwise entries (normalize, grad_input, grad_input_eval) take 4 consecutive elements per invocation
// as vec4s (a vec4 copy moves 2.4x the bytes of an f32 copy on lavapipe); the tensor's buffer holds whole vec4s
// (the pool's size classes are multiples of 16 bytes), so the last one may run into its unused tail. H·W and C
// are override constants there, so the channel division compiles to a multiply and shift; when H·W is a
// multiple of 4 the four elements share one channel.
override HW: u32 = 1u;
override CH: u32 = 1u;

fn channel_of(i: u32) -> u32 {
  return (i / HW) % CH;
}

fn channels(q: u32) -> vec4u {
  let i = 4u * q;
  if (HW % 4u == 0u) { return vec4u(channel_of(i)); }
  return vec4u(channel_of(i), channel_of(i + 1u), channel_of(i + 2u), channel_of(i + 3u));
}

fn gamma4(c: vec4u) -> vec4f { return vec4f(gamma[c.x], gamma[c.y], gamma[c.z], gamma[c.w]); }
fn beta4(c: vec4u) -> vec4f { return vec4f(beta[c.x], beta[c.y], beta[c.z], beta[c.w]); }
fn mean4(c: vec4u) -> vec4f { return vec4f(saved[c.x], saved[c.y], saved[c.z], saved[c.w]); }
fn invstd4(c: vec4u) -> vec4f {
  let o = vec4u(p.c);
  let k = c + o;
  return vec4f(saved[k.x], saved[k.y], saved[k.z], saved[k.w]);
}

// The quad index, or false when the whole quad is past the end.
fn quad_index(wid: vec3u, nwg: vec3u, lid: u32, q: ptr<function, u32>) -> bool {
  *q = group_index(wid, nwg) * 256u + lid;
  return 4u * *q < p.n * p.c * p.hw;
}

// Same operations as xhat and masked, per component, so forward and backward agree exactly.
fn xhat4(v: vec4f, c: vec4u) -> vec4f {
  return (v - mean4(c)) * invstd4(c);
}

fn masked4(g: vec4f, xh: vec4f, c: vec4u) -> vec4f {
  if (RELU) { return select(vec4f(0.0), g, fma(gamma4(c), xh, beta4(c)) > vec4f(0.0)); }
  return g;
}

@compute @workgroup_size(256)
fn normalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  var q: u32;
  if (!quad_index(wid, nwg, lid, &q)) { return; }
  let c = channels(q);
  let v = fma(gamma4(c), xhat4(x4[q], c), beta4(c));
  y4[q] = select(v, max(v, vec4f(0.0)), RELU);
}

@compute @workgroup_size(WG)
fn grad_sums(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let c = group_index(wid, nwg);
  if (c >= p.c) { return; }
  let cs = vec4u(c);
  let count = p.n * QP;
  var sdy = vec4f(0.0);
  var sdyx = vec4f(0.0);
  for (var j = lid; j < count; j += WG) {
    let a = plane_quad(c, j);
    // Masked components are zeroed in both factors: past the tensor's end, x may hold anything.
    let xh = select(vec4f(0.0), xhat4(x4[a.q], cs), a.ok);
    let g = select(vec4f(0.0), masked4(dy4[a.q], xh, cs), a.ok);
    sdy += g;
    sdyx += g * xh;
  }
  let total = tree_sum(lid, vec2f(dot(sdy, vec4f(1.0)), dot(sdyx, vec4f(1.0))));
  if (lid == 0u) {
    sum_dy[c] = total.x;
    sum_dyx[c] = total.y;
  }
}

@compute @workgroup_size(256)
fn grad_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  var q: u32;
  if (!quad_index(wid, nwg, lid, &q)) { return; }
  let c = channels(q);
  let xh = xhat4(x4[q], c);
  let g = masked4(dy4[q], xh, c);
  let m = f32(p.n * p.hw);
  let sdy = vec4f(sum_dy_in[c.x], sum_dy_in[c.y], sum_dy_in[c.z], sum_dy_in[c.w]);
  let sdyx = vec4f(sum_dyx_in[c.x], sum_dyx_in[c.y], sum_dyx_in[c.z], sum_dyx_in[c.w]);
  var dx = gamma4(c) * invstd4(c) * (g - fma(xh, sdyx, sdy) / m);
  if (HAS_RESIDUAL) { dx += res4[q]; }
  dx4[q] = dx;
}

// Rows of double_sums' coefficients (each [C]): x̂ = (x - mean)·s, d/dg = gamma·(G_U·u + G_1 + G_X·x̂),
// d/dx = gamma·(X_U·u + X_G·g + X_1 + X_X·x̂).
const MEAN = 0u;
const INVSTD = 1u;
const G_U = 2u;
const G_1 = 3u;
const G_X = 4u;
const X_U = 5u;
const X_G = 6u;
const X_1 = 7u;
const X_X = 8u;

@compute @workgroup_size(WG)
fn double_sums(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let c = group_index(wid, nwg);
  if (c >= p.c) { return; }
  let cs = vec4u(c);
  let count = p.n * QP;
  var su = vec4f(0.0);
  var sux = vec4f(0.0);
  var sug = vec4f(0.0);
  for (var j = lid; j < count; j += WG) {
    let a = plane_quad(c, j);
    // Masked components are zeroed in every factor: past the tensor's end, the buffers may hold anything.
    let xh = select(vec4f(0.0), xhat4(x4[a.q], cs), a.ok);
    let u = select(vec4f(0.0), uq4[a.q], a.ok);
    let g = select(vec4f(0.0), gq4[a.q], a.ok);
    su += u;
    sux += u * xh;
    sug += u * g;
  }
  let t1 = tree_sum(lid, vec2f(dot(su, vec4f(1.0)), dot(sux, vec4f(1.0))));
  let t2 = tree_sum(lid, vec2f(dot(sug, vec4f(1.0)), 0.0));
  if (lid == 0u) {
    let m = f32(p.n * p.hw);
    let s = saved[p.c + c];
    let sg = sum_dy_in[c];
    let q = sum_dyx_in[c];
    let pu = t1.y;
    let a = t2.x - t1.x * sg / m;
    let k = s * s / m;
    coef_out[MEAN * p.c + c] = saved[c];
    coef_out[INVSTD * p.c + c] = s;
    coef_out[G_U * p.c + c] = s;
    coef_out[G_1 * p.c + c] = -s * t1.x / m;
    coef_out[G_X * p.c + c] = -s * pu / m;
    coef_out[X_U * p.c + c] = -k * q;
    coef_out[X_G * p.c + c] = -k * pu;
    coef_out[X_1 * p.c + c] = k * (t1.x * q + sg * pu) / m;
    coef_out[X_X * p.c + c] = k * (3.0 * pu * q / m - a);
    dgamma_out[c] = s * (a - pu * q / m);
  }
}

fn coef4(row: u32, c: vec4u) -> vec4f {
  let k = c + vec4u(row * p.c);
  return vec4f(coef_in[k.x], coef_in[k.y], coef_in[k.z], coef_in[k.w]);
}

@compute @workgroup_size(256)
fn double_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  var q: u32;
  if (!quad_index(wid, nwg, lid, &q)) { return; }
  let c = channels(q);
  let xh = (x4[q] - coef4(MEAN, c)) * coef4(INVSTD, c);
  let u = uq4[q];
  let gm = gamma4(c);
  ddy4[q] = gm * (fma(coef4(G_U, c), u, coef4(G_1, c)) + coef4(G_X, c) * xh);
  ddx4[q] = gm * (fma(coef4(X_U, c), u, coef4(X_G, c) * gq4[q]) + fma(coef4(X_X, c), xh, coef4(X_1, c)));
}

@compute @workgroup_size(256)
fn grad_input_eval(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  var q: u32;
  if (!quad_index(wid, nwg, lid, &q)) { return; }
  let c = channels(q);
  var dx = gamma4(c) * invstd4(c) * masked4(dy4[q], xhat4(x4[q], c), c);
  if (HAS_RESIDUAL) { dx += res_eval4[q]; }
  dx_eval4[q] = dx;
}
