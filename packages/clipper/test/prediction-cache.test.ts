import { tensor } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { hashInput, PredictionCache } from '../src/prediction-cache.js';
import { failure, type TaskOutcome } from '../src/query.js';

/** A manually settled execution, counting how often the cache started one. */
function executions<O>() {
  const started: ((outcome: TaskOutcome<O>) => void)[] = [];
  const execute = () =>
    new Promise<TaskOutcome<O>>((resolve) => {
      started.push(resolve);
    });
  return { started, execute };
}

const big = { maxEntries: 1000, maxBytes: 1 << 20 };

describe('PredictionCache', () => {
  it('lets 100 identical concurrent queries share one execution, then serves hits', async () => {
    const cache = new PredictionCache(big);
    const { started, execute } = executions<string>();
    const key = cache.key('m', '1', { x: [1, 2, 3] });
    const lookups = Array.from({ length: 100 }, () => cache.fetch(key, 0, 100, execute));
    expect(started).toHaveLength(1);
    expect(lookups.filter((l) => l.lookup === 'miss')).toHaveLength(1);
    expect(lookups.filter((l) => l.lookup === 'coalesced')).toHaveLength(99);
    started[0]!({ ok: true, output: 'seven' });
    const outcomes = await Promise.all(lookups.map((l) => l.outcome));
    expect(outcomes.every((o) => o.ok && o.output === 'seven')).toBe(true);
    const hit = cache.fetch(key, 1, 100, execute);
    expect(hit.lookup).toBe('hit');
    expect(await hit.outcome).toEqual({ ok: true, output: 'seven' });
    expect(started).toHaveLength(1);
    expect(cache.stats()).toMatchObject({ hits: 1, coalesced: 99, misses: 1, entries: 1, pending: 0 });
  });

  it('gives every waiter the failure of a failed execution, forgets it, and runs the next query afresh', async () => {
    const cache = new PredictionCache(big);
    const { started, execute } = executions<number>();
    const key = cache.key('m', '1', 'q');
    const first = cache.fetch(key, 0, 50, execute);
    const joined = cache.fetch(key, 1, 60, execute);
    started[0]!(failure('expired', 'expired in queue'));
    expect(await first.outcome).toMatchObject({ ok: false, reason: 'expired' });
    expect(await joined.outcome).toMatchObject({ ok: false, reason: 'expired' });
    expect(cache.stats().pending).toBe(0);
    // The next identical query does not attach to the dead entry (Clipper's OSS cache bug): it executes.
    const again = cache.fetch(key, 2, 70, execute);
    expect(again.lookup).toBe('miss');
    expect(started).toHaveLength(2);
    started[1]!({ ok: true, output: 42 });
    expect(await again.outcome).toEqual({ ok: true, output: 42 });
    expect(cache.stats().entries).toBe(1);
  });

  it('turns a throwing or rejecting execution into a failed outcome for all waiters', async () => {
    const cache = new PredictionCache(big);
    const key = cache.key('m', '1', 'q');
    const thrown = cache.fetch(key, 0, 10, () => {
      throw new Error('boom');
    });
    expect(await thrown.outcome).toMatchObject({ ok: false, reason: 'model-error' });
    let reject!: (e: Error) => void;
    const rejected = cache.fetch(key, 0, 10, () => new Promise((_, r) => (reject = r)));
    const waiter = cache.fetch(key, 0, 10, () => Promise.resolve({ ok: true, output: 'never' }));
    expect(waiter.lookup).toBe('coalesced');
    reject(new Error('worker gone'));
    expect(await waiter.outcome).toMatchObject({
      ok: false,
      explanation: expect.stringContaining('worker gone'),
    });
    expect(await rejected.outcome).toMatchObject({ ok: false });
    expect(cache.stats()).toMatchObject({ entries: 0, pending: 0 });
  });

  it('bypasses a pending entry past its deadline (a hung execution) instead of joining it', async () => {
    const cache = new PredictionCache(big);
    const { started, execute } = executions<string>();
    const key = cache.key('m', '1', 'q');
    cache.fetch(key, 0, 20, execute); // never settles
    expect(cache.fetch(key, 19, 80, execute).lookup).toBe('coalesced');
    const fresh = cache.fetch(key, 21, 90, execute);
    expect(fresh.lookup).toBe('miss');
    expect(started).toHaveLength(2);
    started[1]!({ ok: true, output: 'fresh' });
    expect(await fresh.outcome).toEqual({ ok: true, output: 'fresh' });
    // The hung one settling late neither removes the newer state nor breaks anything.
    started[0]!({ ok: true, output: 'late' });
    await Promise.resolve();
    expect(cache.stats().pending).toBe(0);
  });

  it('is bounded by entries and by bytes, evicting the least recently used', async () => {
    const byCount = new PredictionCache({ maxEntries: 3, maxBytes: 1 << 20 });
    for (let i = 0; i < 5; i++) {
      await byCount.fetch(byCount.key('m', '1', i), 0, 10, async () => ({ ok: true, output: i })).outcome;
    }
    expect(byCount.stats().entries).toBe(3);
    expect(byCount.peek(byCount.key('m', '1', 0))).toBeUndefined();
    expect(byCount.peek(byCount.key('m', '1', 4))).toBe(4);

    const byBytes = new PredictionCache({ maxEntries: 1000, maxBytes: 10_000 });
    for (let i = 0; i < 10; i++) {
      const output = new Float32Array(500); // ~2 KB each
      await byBytes.fetch(byBytes.key('m', '1', i), 0, 10, async () => ({ ok: true, output })).outcome;
    }
    const { entries, bytes } = byBytes.stats();
    expect(bytes).toBeLessThanOrEqual(10_000);
    expect(entries).toBeGreaterThanOrEqual(3);
    expect(entries).toBeLessThan(10);
  });

  it('keys on model, version and input content: tensor dtype, shape and bytes, canonical JSON', () => {
    const cache = new PredictionCache(big);
    const a = tensor('float32', [2, 2], new Float32Array([1, 2, 3, 4]));
    const sameContent = tensor('float32', [2, 2], new Float32Array([1, 2, 3, 4]));
    expect(cache.key('m', '1', a)).toBe(cache.key('m', '1', sameContent));
    expect(cache.key('m', '1', a)).not.toBe(cache.key('m', '2', a));
    expect(cache.key('m', '1', a)).not.toBe(cache.key('n', '1', a));
    expect(hashInput(a)).not.toBe(hashInput(tensor('float32', [4], new Float32Array([1, 2, 3, 4]))));
    expect(hashInput(a)).not.toBe(
      hashInput(tensor('int32', [2, 2], new Int32Array(new Float32Array([1, 2, 3, 4]).buffer))),
    );
    expect(hashInput(a)).not.toBe(hashInput(tensor('float32', [2, 2], new Float32Array([1, 2, 3, 5]))));
    // A view hashes its own bytes, not its whole buffer.
    const buffer = new Float32Array([9, 1, 2, 3, 4, 9]);
    expect(hashInput(tensor('float32', [2, 2], buffer.subarray(1, 5)))).toBe(hashInput(a));
    // Records of tensors, and JSON, regardless of key order.
    expect(hashInput({ x: a, y: a })).toBe(hashInput({ y: sameContent, x: a }));
    expect(hashInput({ a: 1, b: [true, 'x'] })).toBe(hashInput({ b: [true, 'x'], a: 1 }));
    expect(hashInput({ a: 1, b: [true, 'x'] })).not.toBe(hashInput({ a: 1, b: [true, 'y'] }));
    expect(hashInput(['ab', 'c'])).not.toBe(hashInput(['a', 'bc']));
    expect(hashInput('1')).not.toBe(hashInput(1));
    expect(hashInput(new Uint8Array([1, 2]))).not.toBe(hashInput(new Uint8Array([1, 2, 0])));
  });
});
