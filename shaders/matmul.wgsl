// Uniforms (p) and buffers are declared in engine/ops/matmul.ts (see engine/kernel.ts).
// D[b] = op(A[b]) · op(B[b]), op = optional transpose (TA/TB), stored as C = D, or as C = Dᵀ with TC (the host
// computes Cᵀ = op(B)ᵀ·op(A)ᵀ this way when C has few columns, so that the invocations run along its long side).
// The epilogue adds the bias of C's column and applies the ReLU: a linear layer and its activation in one pass.
// The layout of the convolution kernels, which is what lavapipe runs fastest: a workgroup owns RB rows of D, so
// every load of A has the same address in all invocations (one scalar load), and its invocations own
// neighbouring columns, PB each at a stride of WG, so the loads of B are contiguous across invocations. Each
// invocation keeps an RB x PB block of sums in registers; no workgroup memory, no barriers. Batch strides of 0
// broadcast an operand over the batch (workgroup z).
override TA: bool = false;
override TB: bool = false;
override TC: bool = false;
override HAS_BIAS: bool = false;
override RELU: bool = false;
override RB: u32 = 16u; // rows per workgroup, <= 16
const PB = 8u; // columns per invocation
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m0 = wid.y * RB;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;

  // Clamped rows and columns keep the loads of partial blocks in bounds; their sums are not stored.
  var arow: array<u32, 16>; // start of row i of op(A)
  let astep = select(1u, p.M, TA); // from k to k + 1
  for (var i = 0u; i < RB; i++) {
    let m = min(m0 + i, p.M - 1u);
    arow[i] = baseA + select(m * p.K, m, TA);
  }
  var bcol: array<u32, 8>;
  var col: array<u32, 8>;
  let bstep = select(p.N, 1u, TB);
  for (var j = 0u; j < PB; j++) {
    col[j] = wid.x * WG * PB + j * WG + lid;
    let n = min(col[j], p.N - 1u);
    bcol[j] = baseB + select(n, n * p.K, TB);
  }

  var acc: array<f32, 128>; // [RB][PB]
  for (var k = 0u; k < p.K; k++) {
    var bv: array<f32, 8>;
    for (var j = 0u; j < PB; j++) { bv[j] = b[bcol[j] + k * bstep]; }
    for (var i = 0u; i < RB; i++) {
      let av = a[arow[i] + k * astep];
      for (var j = 0u; j < PB; j++) { acc[i * PB + j] = fma(av, bv[j], acc[i * PB + j]); }
    }
  }

  // D[row, col] is C[row, col], or C[col, row] when C = Dᵀ.
  let rowStep = select(p.N, 1u, TC);
  let colStep = select(1u, p.M, TC);
  let baseC = wid.z * p.strideC;
  for (var i = 0u; i < RB; i++) {
    let row = m0 + i;
    if (row >= p.M) { break; }
    var b0 = 0.0;
    if (HAS_BIAS && TC) { b0 = bias[row]; }
    for (var j = 0u; j < PB; j++) {
      if (col[j] < p.N) {
        var v = acc[i * PB + j];
        if (HAS_BIAS) { v += select(bias[col[j]], b0, TC); }
        if (RELU) { v = max(v, 0.0); }
        c[baseC + row * rowStep + col[j] * colStep] = v;
      }
    }
  }
}
