// Uniforms (p) and buffers are declared in engine/ops/augment.ts (see engine/kernel.ts).
// u8 images [N,C,H,W] (4 bytes per u32 word, little endian) to f32 byte/255, optionally with the standard CIFAR
// augmentation (AUGMENT): zero-pad by `pad`, crop HxW at offsets (dy, dx) in [0, 2·pad], then flip horizontally
// if `flip` is set and the example draws it. Each invocation writes 4 consecutive outputs with one vec4 store;
// its lanes may cross row and image boundaries, so every shape works.
// Per-example choices are a counter-based hash, independent of dispatch order and workgroup size:
//   base = pcg(pcg(pcg(seed) ^ step) ^ example)
//   dy = pcg(base) % (2·pad + 1),  dx = pcg(base ^ 1) % (2·pad + 1),  flipped = flip && pcg(base ^ 2) >> 31 == 1
// tests/augment.test.ts re-implements this on the CPU: change both together.
override AUGMENT: bool = false;

// The output buffer dst holds whole vec4s: the pool's size classes are multiples of 16 bytes (checked in the op).

// The PCG hash of shaders/fill.wgsl.
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

struct Choice { dy: i32, dx: i32, flip: bool }

fn choose(example: u32) -> Choice {
  let base = pcg(pcg(pcg(p.seed) ^ p.step) ^ example);
  let range = 2u * p.pad + 1u;
  return Choice(i32(pcg(base) % range), i32(pcg(base ^ 1u) % range), p.flip != 0u && (pcg(base ^ 2u) >> 31u) == 1u);
}

fn byteAt(i: u32) -> u32 {
  return (src[i >> 2u] >> ((i & 3u) * 8u)) & 255u;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let q = group_index(wid, nwg) * 256u + lid;
  let e0 = q * 4u;
  if (e0 >= p.total) { return; }
  if (!AUGMENT) {
    // Outputs 4q..4q+3 are exactly the bytes of word q.
    let w = src[q];
    dst[q] = vec4f(vec4u(w, w >> 8u, w >> 16u, w >> 24u) & vec4u(255u)) / 255.0;
    return;
  }
  // Decode the first lane once; the others advance with carries (no divisions).
  let row = e0 / p.W;
  let plane = row / p.H;
  var example = plane / p.C;
  var x = e0 - row * p.W;
  var y = row - plane * p.H;
  var c = plane - example * p.C;
  var k = choose(example);
  var v = vec4u(0u);
  let pad = i32(p.pad);
  for (var l = 0u; l < 4u; l++) {
    let xf = select(x, p.W - 1u - x, k.flip);
    let sy = i32(y) + k.dy - pad;
    let sx = i32(xf) + k.dx - pad;
    if (e0 + l < p.total && sy >= 0 && sy < i32(p.H) && sx >= 0 && sx < i32(p.W)) {
      v[l] = byteAt(((example * p.C + c) * p.H + u32(sy)) * p.W + u32(sx));
    }
    x++;
    if (x == p.W) {
      x = 0u;
      y++;
      if (y == p.H) {
        y = 0u;
        c++;
        if (c == p.C) {
          c = 0u;
          example++;
          k = choose(example);
        }
      }
    }
  }
  dst[q] = vec4f(v) / 255.0;
}
