// Uniforms (p) and buffers are declared in engine/ops/perturb.ts (see engine/kernel.ts).
// Perturbations of the rows of x [rows, cols] (one example per row) kept inside a norm ball around x, a box
// [lower, upper] and a mask `mask` (1: the attacker may change the element), the box and mask per column
// (one sample's elements), broadcast over the rows. One workgroup per row: the L2 variants need the row's norms.
//   project: the perturbation d = a - x (a a point) or d = a (FROM_DELTA), plus an ascent step
//     (STEP 1: p.step·sign(g), 2: p.step·g/(‖g‖₂ + 1e-12), with g and its norm taken on the mutable elements;
//     GATE: the row's step scaled by gate[r]),
//     zeroed where not mutable; then the ball of radius p.radius
//     (BALL 1: clamp to ±radius; 2: scaled by radius/‖d‖₂ where ‖d‖₂ > radius; 3: scaled onto the sphere of
//     radius p.radius, a zero d stays 0); then the box (BOX), widened to contain x so that x itself is always
//     feasible and a clean value outside the box never moves: v = clamp(x + d, min(lower, x), max(upper, x)).
//     Written as the point v, or (TO_DELTA) as the perturbation: v - x with the box, d without.
//   apply_grad: the backward of v = x + mutable·a, clamped to the widened box where BOX: out = g where x + mutable·a
//     lies inside the box (inclusive, as clamp's), in a (MASK_DY) only where mutable; in x also where the value
//     is clamped to x itself (x outside the box).
override FROM_DELTA: bool = false;
override STEP: u32 = 0u;
override BALL: u32 = 0u;
override BOX: bool = true;
override TO_DELTA: bool = false;
override GATE: bool = false;
override MASK_DY: bool = false;
const WG: u32 = 256u;

var<workgroup> part: array<f32, WG>;

// The sum of every invocation's v, in each of them. The caller is in uniform control flow.
fn row_sum(v: f32, lid: u32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { part[lid] += part[lid + k]; }
    workgroupBarrier();
  }
  let s = part[0];
  // Every invocation has read the sum before part is written again by a later call.
  workgroupBarrier();
  return s;
}

fn is_mutable(j: u32) -> bool {
  return mask[j] > 0.5;
}

// The masked perturbation of element k (column j) with the row's step, before the ball.
fn raw(k: u32, j: u32, step: f32, gscale: f32) -> f32 {
  var d = a[k];
  if (!FROM_DELTA) { d = d - x[k]; }
  if (STEP == 1u) { d = d + step * sign(g[k]); }
  if (STEP == 2u) { d = d + step * (g[k] * gscale); }
  return select(0.0, d, is_mutable(j));
}

@compute @workgroup_size(WG)
fn project(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  // Uniform per workgroup, so the early exit keeps the barriers below in uniform control flow.
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var step = p.step;
  if (GATE) { step = step * gate[r]; }
  var gscale = 1.0;
  if (STEP == 2u) {
    var s = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
      let gj = select(0.0, g[base + j], is_mutable(j));
      s += gj * gj;
    }
    gscale = 1.0 / (sqrt(row_sum(s, lid)) + 1e-12);
  }
  var f = 1.0;
  if (BALL >= 2u) {
    var s = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
      let d = raw(base + j, j, step, gscale);
      s += d * d;
    }
    let n = sqrt(row_sum(s, lid));
    if (BALL == 2u) { f = select(1.0, p.radius / n, n > p.radius); }
    else { f = select(0.0, p.radius / n, n > 0.0); }
  }
  for (var j = lid; j < p.cols; j += WG) {
    let k = base + j;
    var d = raw(k, j, step, gscale);
    if (BALL == 1u) { d = clamp(d, -p.radius, p.radius); }
    if (BALL >= 2u) { d = d * f; }
    if (TO_DELTA && !BOX) {
      out[k] = d;
    } else {
      let xk = x[k];
      var v = xk + d;
      if (BOX) { v = clamp(v, min(lower[j], xk), max(upper[j], xk)); }
      out[k] = select(v, v - xk, TO_DELTA);
    }
  }
}

@compute @workgroup_size(WG)
fn apply_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  for (var j = lid; j < p.cols; j += WG) {
    let k = base + j;
    let xk = x[k];
    let v = xk + select(0.0, a[k], is_mutable(j));
    var keep = true;
    if (BOX) {
      keep = v >= min(lower[j], xk) && v <= max(upper[j], xk);
      // In x, a value clamped to a bound that is x itself (x outside the box) follows x.
      if (!MASK_DY) { keep = keep || (v > xk && xk > upper[j]) || (v < xk && xk < lower[j]); }
    }
    if (MASK_DY) { keep = keep && is_mutable(j); }
    out[k] = select(0.0, g[k], keep);
  }
}
