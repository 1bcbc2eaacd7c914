// tidy and keep on their own: what a scope frees, what moves to the enclosing scope, and what survives all.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { add, fill, keep, memory, tidy, type Tensor } from '../engine/index.js';
import { assertClose, ready } from './helpers.js';

const t = suite('scope');
t.before(ready);

t('nested scopes: a result moves to the enclosing scope, which frees it unless it returns it too', async () => {
  const before = memory().liveTensors;
  let inner: Tensor | null = null;
  const outer = tidy(() => {
    inner = tidy(() => add(fill([4], 1), fill([4], 2)));
    assert.is(memory().liveTensors, before + 1, 'the inner scope freed its two fills, kept its result');
    const dropped = tidy(() => fill([4], 5));
    return { sum: add(inner, dropped), nested: [inner] };
  });
  assert.ok(!inner!.disposed, 'returned inside a container, the inner result survives the outer scope');
  assert.is(memory().liveTensors, before + 2, 'only the returned tensors are alive');
  assertClose(await outer.sum.data(), [8, 8, 8, 8], 'sum');
  outer.sum.dispose();
  inner!.dispose();
  assert.is(memory().liveTensors, before);
});

t('keep survives every enclosing scope; an exception still frees the scope', () => {
  const before = memory().liveTensors;
  let kept: Tensor | null = null;
  tidy(() =>
    tidy(() => {
      kept = keep(fill([3], 1));
      fill([3], 2);
    }),
  );
  assert.ok(!kept!.disposed, 'kept');
  assert.is(memory().liveTensors, before + 1);
  assert.throws(
    () =>
      tidy(() => {
        fill([3], 3);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.is(memory().liveTensors, before + 1, 'the throwing scope freed its tensor');
  kept!.dispose();
});

t.run();
