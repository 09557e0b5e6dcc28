import { ConfigError } from '@geoml/core';
import { describe, expect, it } from 'vitest';
// Relative until vitest resolves '@geoml/core' to sources in tests (it currently picks the built dist,
// which may predate VirtualClock); see the report of transport-inprocess.
import { VirtualClock } from '../../core/src/virtual-clock.js';
import { EmulatedNetwork } from '../src/emulated-network.js';
import { InProcessHub } from '../src/in-process-hub.js';
import { InProcessTransport } from '../src/in-process-transport.js';
import type { Network } from '../src/network.js';
import { describeConformance } from './conformance.js';

describeConformance('InProcessTransport (hub)', () => {
  const hub = new InProcessHub();
  return {
    connect: async (region?: string) => hub.connect(region),
    teardown: async () => {},
  };
});

// The same suite across regions: connections without a region are spread over three regions joined by
// a real-time emulated WAN (1 ms, 1 Gbit/s), so routing through the network is held to the contract too.
describeConformance('InProcessTransport (hub over an emulated WAN)', () => {
  const regions = ['east', 'west', 'region-x'];
  const network = new EmulatedNetwork({
    topology: {
      regions,
      links: regions.flatMap((from) =>
        regions.filter((to) => to !== from).map((to) => ({ from, to, bandwidthMbps: 1000, latencyMs: 1 })),
      ),
    },
  });
  const hub = new InProcessHub({ network });
  let next = 0;
  return {
    connect: async (region?: string) => hub.connect(region ?? regions[next++ % 2]),
    teardown: async () => {},
  };
});

describe('InProcessTransport specifics', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('stands alone as region "local" with a private hub', async () => {
    const a = new InProcessTransport();
    const b = new InProcessTransport();
    expect(a.region).toBe('local');
    const sub = a.subscribe('x');
    b.subscribe('x');
    // b's hub is not a's: nobody in b's hub answers, so requests to a's subject fail there.
    await expect(new InProcessTransport().request('x', bytes('?'))).rejects.toMatchObject({
      code: 'NO_RESPONDERS',
    });
    a.publish('x', bytes('mine'));
    const it = sub[Symbol.asyncIterator]();
    expect(new TextDecoder().decode((await it.next()).value!.data)).toBe('mine');
    await Promise.all([a.close(), b.close()]);
  });

  it('shares a stored blob as read-only shared memory; get and put still copy', async () => {
    const hub = new InProcessHub();
    const [a, b] = [hub.connect('a'), hub.connect('b')];
    const written = bytes('model bytes');
    await (await a.blobs('m')).put('x', written);
    written[0] = 0; // the store took a copy
    const store = await b.blobs('m');
    const shared = await store.share!('x');
    expect(shared!.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(new TextDecoder().decode(shared!)).toBe('model bytes');
    expect(await store.share!('x')).toBe(shared); // the same memory, not a copy
    const copy = (await store.get('x'))!;
    expect(copy.buffer).toBeInstanceOf(ArrayBuffer);
    copy[0] = 0;
    expect(new TextDecoder().decode((await store.get('x'))!)).toBe('model bytes');
    // A second put under the name stores new memory: what was shared before stays as it was.
    await (await a.blobs('m')).put('x', bytes('other'));
    expect(new TextDecoder().decode(shared!)).toBe('model bytes');
    expect(await store.share!('gone')).toBeNull();
    await Promise.all([a.close(), b.close()]);
  });

  it('delivers asynchronously, never inside publish', async () => {
    const t = new InProcessHub().connect('r');
    const sub = t.subscribe('async');
    const seen: string[] = [];
    const reader = (async () => {
      for await (const m of sub) seen.push(new TextDecoder().decode(m.data));
    })();
    await new Promise((r) => setImmediate(r));
    t.publish('async', bytes('one'));
    expect(seen).toEqual([]);
    await t.flush();
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['one']);
    await t.close();
    await reader;
  });

  it('times requests out in virtual time', async () => {
    const clock = new VirtualClock();
    const hub = new InProcessHub({ clock });
    const [client, server] = [hub.connect('a'), hub.connect('b')];
    server.subscribe('slow');
    const elapsed = await clock.run(async () => {
      await expect(client.request('slow', bytes('?'), { timeoutMs: 5000 })).rejects.toMatchObject({
        code: 'TIMEOUT',
      });
      return clock.now();
    });
    expect(elapsed).toBe(5000);
    // An answered request cancels its timer, so virtual time does not jump to the timeout.
    const sub = server.subscribe('fast');
    (async () => {
      for await (const m of sub) m.respond(bytes('ok'));
    })();
    const at = await clock.run(async () => {
      await client.request('fast', bytes('?'), { timeoutMs: 5000 });
      return clock.now();
    });
    expect(at).toBe(5000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('drops messages past the pending limit and reports the slow consumer on status()', async () => {
    const hub = new InProcessHub({ pendingLimit: 5 });
    const t = hub.connect('r');
    const status = t.status()[Symbol.asyncIterator]();
    const sub = t.subscribe('flood');
    for (let i = 0; i < 8; i++) t.publish('flood', bytes(String(i)));
    await t.flush();
    const event = await status.next();
    expect(event.value).toMatchObject({ type: 'error' });
    await t.drain();
    const got: string[] = [];
    for await (const m of sub) got.push(new TextDecoder().decode(m.data));
    expect(got).toEqual(['0', '1', '2', '3', '4']);
  });

  it('refuses payloads over maxPayload with TOO_LARGE', () => {
    const t = new InProcessHub({ maxPayload: 10 }).connect('r');
    expect(() => t.publish('big', new Uint8Array(11))).toThrow(
      expect.objectContaining({ code: 'TOO_LARGE' }) as unknown as Error,
    );
    t.publish('big', new Uint8Array(10));
  });

  it('refuses headers that cannot travel as NATS header lines', () => {
    const t = new InProcessTransport();
    expect(() => t.publish('h', bytes('x'), { headers: { 'bad key': 'v' } })).toThrow(TypeError);
    expect(() => t.publish('h', bytes('x'), { headers: { 'a:b': 'v' } })).toThrow(TypeError);
    expect(() => t.publish('h', bytes('x'), { headers: { k: 'line\nbreak' } })).toThrow(TypeError);
    expect(() => t.publish('h', bytes('x'), { headers: { k: 5 as unknown as string } })).toThrow(TypeError);
    t.publish('h', bytes('x'), { headers: { 'X-Trace': 'a b: c' } });
  });

  it('refuses a region its network does not know', () => {
    const network: Network = { regions: ['a', 'b'], transmit: async () => {} };
    const hub = new InProcessHub({ network });
    expect(hub.connect('a').region).toBe('a');
    expect(() => hub.connect('mars')).toThrow(ConfigError);
    expect(() => hub.connect('')).toThrow(ConfigError);
  });
});
