import type { KV } from '@nats-io/kv';
import { errors } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { TransportError } from '../src/errors.js';
import { mapNatsError } from '../src/nats-errors.js';
import { NatsKvStore } from '../src/nats-kv.js';

/**
 * A lost request or reply cannot be caused on demand against a real server, so this fake bucket
 * answers `get` with nats.js's own TimeoutError as many times as asked, then with an entry.
 */
function store(timeouts: number) {
  let calls = 0;
  const kv = {
    get: async (key: string) => {
      calls++;
      if (calls <= timeouts) throw new errors.TimeoutError();
      return { bucket: 'b', key, value: new Uint8Array([7]), revision: 3, operation: 'PUT' };
    },
  } as unknown as KV;
  const s = new NatsKvStore('b', kv, { ensureOpen: () => {}, fail: (e, what) => mapNatsError(e, what) });
  return { s, calls: () => calls };
}

describe('NatsKvStore.get', () => {
  it('tries once more after a timeout: a read changes nothing', async () => {
    const { s, calls } = store(1);
    await expect(s.get('k')).resolves.toMatchObject({ key: 'k', revision: 3, value: new Uint8Array([7]) });
    expect(calls()).toBe(2);
  });

  it('fails with TIMEOUT, naming the bucket and key, when the second try times out too', async () => {
    const { s, calls } = store(5);
    const error = await s.get('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('TIMEOUT');
    expect((error as TransportError).message).toBe("kv b: get 'k': timed out");
    expect(calls()).toBe(2);
  });
});
