// Uniforms (p) and buffers are declared in engine/ops/reduce.ts (see engine/kernel.ts).
// Sums over the rows of src viewed as [rows, cols] (a full reduction is cols = 1):
//   reduce:    dst[c0, c] = scale · Σ_{r in row chunk c0} src[r, c]
// Each workgroup owns one chunk of CH = TR·ITEMS rows by TC columns. Its invocation (tr, tc) adds rows
// tr, tr + TR, ... of the chunk in a register (consecutive invocations read consecutive addresses), then a
// tree over tr in workgroup memory leaves one partial per column. The host repeats the pass on the
// [chunks, cols] partials until one chunk is left, so every partial sums O(ITEMS + log) terms: the rounding
// error grows with log(rows), not rows.
//   broadcast: dst[i] = scale · src[i % cols], i < rows·cols (the backward of the reductions)
override TC: u32 = 1u;      // invocations across columns, a power of two dividing WG
override ITEMS: u32 = 64u;  // rows each invocation adds per chunk
override TR: u32 = WG / TC; // invocations across rows
const WG: u32 = 256u;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn reduce(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  // Uniform per workgroup, so the early exit keeps the barriers below in uniform control flow.
  let g = group_index(wid, nwg);
  if (g >= p.colBlocks * p.chunks) { return; }
  let chunk = g / p.colBlocks;
  let tc = lid % TC;
  let tr = lid / TC;
  let col = (g % p.colBlocks) * TC + tc;
  let r0 = chunk * (TR * ITEMS);
  let r1 = min(r0 + TR * ITEMS, p.rows);
  var s = 0.0;
  if (col < p.cols) {
    for (var r = r0 + tr; r < r1; r += TR) { s += src[r * p.cols + col]; }
  }
  part[lid] = s;
  workgroupBarrier();
  for (var k = TR / 2u; k > 0u; k >>= 1u) {
    if (tr < k) { part[lid] += part[lid + k * TC]; }
    workgroupBarrier();
  }
  if (tr == 0u && col < p.cols) { dst[chunk * p.cols + col] = part[lid] * p.scale; }
}

@compute @workgroup_size(WG)
fn broadcast(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * WG + lid;
  if (i >= p.rows * p.cols) { return; }
  dst[i] = src[i % p.cols] * p.scale;
}
