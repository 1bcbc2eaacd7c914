// The kernel interface (engine/kernel.ts): the WGSL declarations generated from a TypeScript declaration, a
// dispatch's buffers checked by name, and a kernel's own FLOP and byte counts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rt, tensor } from '../engine/index.js';
import { dispatchCost, shader, wgslPrelude } from '../engine/kernel.js';
import { assertThrows, ready } from './helpers.js';

const t = suite('kernel');
t.before(ready);

// Two entry points of one file: both bind `x` at 1, and binding 2 is `y` in one and `idx` in the other.
const SRC = `
@compute @workgroup_size(64)
fn scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 64u + lid;
  if (i < p.n) { y[i] = p.a * x[i]; }
}
@compute @workgroup_size(64)
fn positive(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * 64u + lid;
  if (i < p.n) { idx[i] = select(0, 1, x[i] > 0.0); }
}
`;
const S = shader(SRC, ['n:u32', 'a:f32']);
const SCALE = S.kernel({
  name: 'test_scale',
  family: 'elementwise',
  entry: 'scale',
  buffers: { x: 'read f32', y: 'read_write f32' },
  bytes: (p) => 8 * p.n,
});
const POSITIVE = S.kernel({
  name: 'test_positive',
  family: 'elementwise',
  entry: 'positive',
  buffers: { x: 'read f32', idx: 'read_write i32' },
});

t('the generated declarations: the uniform struct, every buffer of every entry point once, group_index', () => {
  assert.is(
    wgslPrelude(SCALE.shader),
    [
      'struct Params { n: u32, a: f32 }',
      '@group(0) @binding(0) var<uniform> p: Params;',
      '@group(0) @binding(1) var<storage, read> x: array<f32>;',
      '@group(0) @binding(2) var<storage, read_write> y: array<f32>;',
      '@group(0) @binding(2) var<storage, read_write> idx: array<i32>;',
      'fn group_index(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }',
      '',
    ].join('\n'),
  );
  const clash = shader('');
  clash.kernel({ name: 'clash1', family: 'elementwise', buffers: { x: 'read f32' } });
  const second = clash.kernel({ name: 'clash2', family: 'elementwise', buffers: { x: 'read_write f32' } });
  assertThrows(() => wgslPrelude(second.shader), /clash2/, /buffer 'x' is declared differently/);
});

t('both entry points of one shader run from the generated declarations; buffers are checked by name', async () => {
  const x = tensor(Float32Array.from([1, -2, 3, -4, 5]), [5], { name: 'x' });
  const y = tensor(new Float32Array(5), [5], { name: 'y' });
  const idx = tensor(new Int32Array(5), [5], { name: 'idx' });
  rt().dispatch({ kernel: SCALE, params: { n: 5, a: 2 }, buffers: { x, y }, groups: [1] });
  rt().dispatch({ kernel: POSITIVE, params: { n: 5, a: 0 }, buffers: { x, idx }, groups: [1] });
  assert.equal([...(await y.data())], [2, -4, 6, -8, 10]);
  assert.equal([...(await idx.ints())], [1, 0, 1, 0, 1]);
  assertThrows(
    () => rt().dispatch({ kernel: SCALE, params: { n: 5, a: 2 }, buffers: { x, out: y }, groups: [1] }),
    /test_scale/,
    /takes buffers x, y/,
    /got x, out/,
  );
  assertThrows(
    () => rt().dispatch({ kernel: SCALE, params: { n: 5 }, buffers: { x, y }, groups: [1] }),
    /test_scale/,
    /parameter 'a'/,
  );
  for (const v of [x, y, idx]) v.dispose();
});

t('a dispatch costs what its kernel declares, 0 where it declares nothing', () => {
  const d = { kernel: SCALE, params: { n: 1000, a: 1 }, buffers: {}, groups: [16] as const };
  assert.equal(dispatchCost(d), { flops: 0, bytes: 8000 });
  assert.equal(dispatchCost({ ...d, kernel: POSITIVE }), { flops: 0, bytes: 0 });
});

t.run();
