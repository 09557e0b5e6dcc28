import { systemClock, tensor } from '@geoml/core';
import { InProcessHub } from '@geoml/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { ShardServer } from '../src/shard-server.js';
import type { SyncPolicy } from '../src/sync-policy.js';
import { decodeMessage, encodeMessage } from '../src/wire.js';

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('ShardServer over a transport', () => {
  const servers: ShardServer[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.stop();
  });

  function setup(policy: SyncPolicy) {
    const t = new InProcessHub().connect('a');
    const server = new ShardServer({
      transport: t,
      clock: systemClock,
      subject: 'gaia.t.ps.a.0',
      range: { lo: 0, hi: 4 },
      initial: new Float32Array(4),
      workers: ['w0', 'w1'],
      policy,
    });
    server.start();
    servers.push(server);
    const push = (w: string, c: number, values: number[]) =>
      t.publish(
        'gaia.t.ps.a.0.update',
        encodeMessage({ w, r: 'a', c }, new Map([['u', tensor('float32', [4], Float32Array.from(values))]])),
      );
    let id = 0;
    const replies = t.subscribe('gaia.t.inbox');
    const answered = new Map<number, number[]>();
    void (async () => {
      for await (const m of replies) {
        const { meta, tensors } = decodeMessage<{ id: number }>(m.data);
        const v = tensors.get('v');
        if (v && !('indices' in v)) answered.set(meta.id, [...(v.data as Float32Array)]);
      }
    })();
    const read = (w: string, c: number) => {
      const rid = id++;
      t.publish('gaia.t.ps.a.0.read', encodeMessage({ w, r: 'a', c, id: rid }), { reply: 'gaia.t.inbox' });
      return rid;
    };
    return { server, push, read, answered };
  }

  it('honours the SSP staleness bound: a read at clock c waits until the slowest worker reaches c - s', async () => {
    const { push, read, answered } = setup({ kind: 'ssp', staleness: 1 });
    push('w0', 1, [1, 0, 0, 0]);
    push('w0', 2, [1, 0, 0, 0]);
    const early = read('w0', 1); // 1 - 0 <= 1
    const late = read('w0', 2); // 2 - 0 > 1: waits for w1
    await settle();
    expect(answered.get(early)).toEqual([2, 0, 0, 0]);
    expect(answered.has(late)).toBe(false);
    push('w1', 1, [0, 5, 0, 0]);
    await settle();
    expect(answered.get(late)).toEqual([2, 5, 0, 0]);
  });

  it('BSP serves a read at clock c only once every worker has pushed clock c', async () => {
    const { push, read, answered } = setup({ kind: 'bsp' });
    push('w0', 1, [1, 1, 1, 1]);
    const r = read('w0', 1);
    await settle();
    expect(answered.has(r)).toBe(false);
    push('w1', 1, [1, 1, 1, 1]);
    await settle();
    expect(answered.get(r)).toEqual([2, 2, 2, 2]);
  });

  it('rejects a NaN update arriving over the wire: nothing applied, the clock still moves', async () => {
    const { server, push, read, answered } = setup({ kind: 'bsp' });
    push('w0', 1, [1, Number.NaN, 1, 1]);
    push('w1', 1, [0, 0, 0, Number.POSITIVE_INFINITY]);
    const r = read('w0', 1);
    await settle();
    expect(server.rejected).toBe(2);
    expect(answered.get(r)).toEqual([0, 0, 0, 0]);
  });
});
