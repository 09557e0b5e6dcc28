import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsTransport } from '../src/nats-transport.js';
import { type Supercluster, startSupercluster } from '../src/supercluster.js';
import type { Msg } from '../src/transport.js';
import type { WanProxy } from '../src/wan-proxy.js';

const LATENCY_MS = 80;
const BANDWIDTH_MBPS = 50;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Next message of `it`, or null after `ms`. */
async function within(it: AsyncIterator<Msg>, ms: number, pending?: Promise<IteratorResult<Msg>>) {
  const next = pending ?? it.next();
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([next, new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)))]);
  clearTimeout(timer);
  return { result: r, next };
}

describe('startSupercluster options', () => {
  it('refuses unknown regions, self links and duplicate links before starting anything', async () => {
    const link = { bandwidthMbps: 10, latencyMs: 5 };
    await expect(startSupercluster(['A', 'B'], { wan: [{ between: ['A', 'Z'], ...link }] })).rejects.toThrow(
      /unknown region 'Z'/,
    );
    await expect(startSupercluster(['A', 'B'], { wan: [{ from: 'A', to: 'A', ...link }] })).rejects.toThrow(
      /to itself/,
    );
    await expect(
      startSupercluster(['A', 'B'], {
        wan: [
          { between: ['A', 'B'], ...link },
          { from: 'B', to: 'A', ...link },
        ],
      }),
    ).rejects.toThrow(/B -> A given twice/);
    await expect(startSupercluster(['A', 'A'])).rejects.toThrow(/unique/);
    await expect(startSupercluster(['A b'])).rejects.toThrow(/region names/);
  });
});

describe('supercluster of three regions with WAN links to C through WanProxy', () => {
  let sc: Supercluster;
  let a: NatsTransport;
  let c: NatsTransport;
  let aToC: WanProxy;

  beforeAll(async () => {
    sc = await startSupercluster(['A', 'B', 'C'], {
      jetstream: true,
      wan: [
        { from: 'A', to: 'C', bandwidthMbps: BANDWIDTH_MBPS, latencyMs: LATENCY_MS },
        { from: 'C', to: 'A', bandwidthMbps: BANDWIDTH_MBPS * 2, latencyMs: LATENCY_MS },
        { between: ['B', 'C'], bandwidthMbps: BANDWIDTH_MBPS, latencyMs: LATENCY_MS },
      ],
    });
    a = await NatsTransport.connect({ servers: sc.urls('A'), region: 'A' });
    c = await NatsTransport.connect({ servers: sc.urls('C'), region: 'C' });
    const proxy = sc.proxy('A', 'C');
    if (!proxy) throw new Error('no proxy A->C');
    aToC = proxy;
  });
  afterAll(async () => {
    await a?.close();
    await c?.close();
    await sc?.close();
  });

  it('puts proxies only on the pairs asked for', () => {
    expect(sc.proxy('C', 'A')).toBeDefined();
    expect(sc.proxy('B', 'C')).toBeDefined();
    expect(sc.proxy('A', 'B')).toBeUndefined();
    // The gateway connection from A to C was dialled through the proxy.
    expect(aToC.stats().connections).toBeGreaterThanOrEqual(1);
  });

  it('delivers a message from A to a subscriber in C after the WAN delay, counted by the proxy', async () => {
    const sub = c.subscribe('geo.update');
    await c.flush();
    const it = sub[Symbol.asyncIterator]();
    // Warm up until C's interest is known in A (gateway interest propagation is asynchronous); bounded.
    let pending: Promise<IteratorResult<Msg>> | undefined;
    let warm = false;
    for (let i = 0; i < 40 && !warm; i++) {
      a.publish('geo.update', new TextEncoder().encode('warmup'));
      const r = await within(it, 250, pending);
      pending = r.result ? undefined : r.next;
      warm = r.result !== null;
    }
    expect(warm).toBe(true);
    // Drain warm-up copies still in flight.
    for (;;) {
      const r = await within(it, 3 * LATENCY_MS, pending);
      pending = r.result ? undefined : r.next;
      if (!r.result) break;
    }

    const payload = new Uint8Array(256 * 1024);
    payload.fill(7);
    payload.set(new TextEncoder().encode('the-update'));
    const before = aToC.stats().forward.bytes;
    const t0 = performance.now();
    a.publish('geo.update', payload);
    const r = await within(it, 10_000, pending);
    const elapsed = performance.now() - t0;
    const m = r.result;
    expect(m && !m.done && text(m.value.data.subarray(0, 10))).toBe('the-update');
    expect(m && !m.done && m.value.data.length).toBe(payload.length);
    // One-way latency plus serialization of 256 KiB at 50 Mbit/s (~42 ms).
    const serializationMs = (payload.length * 8) / (BANDWIDTH_MBPS * 1000);
    expect(elapsed).toBeGreaterThanOrEqual(LATENCY_MS + serializationMs - 1);
    const crossed = aToC.stats().forward.bytes - before;
    expect(crossed).toBeGreaterThanOrEqual(payload.length);
    // Protocol framing and gateway chatter are small beside the payload.
    expect(crossed).toBeLessThan(payload.length * 1.05 + 16 * 1024);
    sub.unsubscribe();
  });

  it("answers a queue-group request in the requester's region, and across the WAN when none is local", async () => {
    const serve = (t: NatsTransport, name: string) => {
      const sub = t.subscribe('geo.ps.shard0', { queue: 'ps' });
      void (async () => {
        for await (const m of sub) m.respond(new TextEncoder().encode(name));
      })();
      return sub;
    };
    const inA = serve(a, 'A');
    const inC = serve(c, 'C');
    await Promise.all([a.flush(), c.flush()]);
    const ask = async (t: NatsTransport) =>
      text((await t.request('geo.ps.shard0', new Uint8Array(1), { timeoutMs: 5000 })).data);
    // Queue interest crosses gateways asynchronously: wait (bounded) until C's member is known in A.
    inA.unsubscribe();
    let remote = '';
    for (let i = 0; i < 50 && remote !== 'C'; i++) {
      remote = await ask(a).catch(() => '');
      if (remote !== 'C') await new Promise((r) => setTimeout(r, 100));
    }
    expect(remote).toBe('C');
    const again = serve(a, 'A');
    await a.flush();
    const fromA = await Promise.all(Array.from({ length: 5 }, () => ask(a)));
    const fromC = await Promise.all(Array.from({ length: 5 }, () => ask(c)));
    expect(fromA).toEqual(['A', 'A', 'A', 'A', 'A']);
    expect(fromC).toEqual(['C', 'C', 'C', 'C', 'C']);
    again.unsubscribe();
    inC.unsubscribe();
  });

  it('shares JetStream KV and blobs across regions', async () => {
    const kvA = await a.kv('geo-models', { history: 2 });
    const rev = await kvA.put('mnist.latest', new TextEncoder().encode('v7'));
    const kvC = await c.kv('geo-models');
    const e = await kvC.get('mnist.latest');
    expect(e && text(e.value)).toBe('v7');
    expect(e?.revision).toBe(rev);
    await kvC.update('mnist.latest', new TextEncoder().encode('v8'), rev);
    expect(text((await kvA.get('mnist.latest'))?.value ?? new Uint8Array())).toBe('v8');

    const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => i % 251);
    const info = await (await c.blobs('geo-weights')).put('w', data);
    const back = await (await a.blobs('geo-weights')).get('w');
    expect(back?.length).toBe(data.length);
    expect(back && Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(info.size).toBe(data.length);
  });
});

describe('supercluster with two servers per region', () => {
  it('routes within a region and across the gateway', async () => {
    // Without JetStream: on 2.9.10 a region of several servers may elect its own JetStream meta leader
    // before the gateways connect (see docs/transport.md); the helper then fails loudly.
    const sc = await startSupercluster(['east', 'west'], {
      serversPerRegion: 2,
      wan: [{ between: ['east', 'west'], bandwidthMbps: 100, latencyMs: 10 }],
    });
    const clients: NatsTransport[] = [];
    try {
      expect(sc.urls('east')).toHaveLength(2);
      expect(sc.cluster('west').servers.map((s) => s.name)).toEqual(['west-0', 'west-1']);
      expect(() => sc.cluster('north')).toThrow(/no region 'north'/);
      const [e1, w0] = await Promise.all([
        NatsTransport.connect({ servers: sc.urls('east')[1] ?? '', region: 'east' }),
        NatsTransport.connect({ servers: sc.urls('west')[0] ?? '', region: 'west' }),
      ]);
      clients.push(e1, w0);
      const sub = w0.subscribe('two.per.region');
      void (async () => {
        for await (const m of sub) m.respond(m.data);
      })();
      await w0.flush();
      // Interest crosses the route and the gateway asynchronously: retry (bounded) until answered.
      let answer = '';
      for (let i = 0; i < 50 && answer === ''; i++) {
        answer = await e1
          .request('two.per.region', new TextEncoder().encode('east-1'), { timeoutMs: 500 })
          .then((m) => text(m.data))
          .catch(() => '');
        if (answer === '') await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer).toBe('east-1');
    } finally {
      for (const t of clients) await t.close();
      await sc.close();
    }
  });
});
