import { ConfigError, systemClock } from '@geoml/core';
import { describe, expect, it } from 'vitest';
// Relative until vitest resolves '@geoml/core' to sources in tests (it currently picks the built dist,
// which may predate VirtualClock).
import { createRng } from '../../core/src/rng.js';
import { VirtualClock } from '../../core/src/virtual-clock.js';
import { EmulatedNetwork } from '../src/emulated-network.js';
import { InProcessHub } from '../src/in-process-hub.js';
import {
  EC2_11_REGIONS,
  ec2RoundTripMs,
  lanMbpsForRegime,
  type ProfileName,
  topologyProfile,
} from '../src/profiles.js';
import type { Topology } from '../src/topology.js';
import type { Lane, Msg } from '../src/transport.js';

/** a <-> b at 8 Mbit/s (1000 bytes per ms) and 10 ms one way; c only reachable from a. */
const topology = (): Topology => ({
  regions: ['a', 'b', 'c'],
  links: [
    { from: 'a', to: 'b', bandwidthMbps: 8, latencyMs: 10 },
    { from: 'b', to: 'a', bandwidthMbps: 8, latencyMs: 10 },
    { from: 'a', to: 'c', bandwidthMbps: 80, latencyMs: 50 },
    { from: 'c', to: 'a', bandwidthMbps: 80, latencyMs: 50 },
  ],
});

describe('EmulatedNetwork link model (virtual time)', () => {
  it('queues messages behind each other at the link bandwidth, then adds the latency', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({ topology: topology(), clock });
    const arrivals: [string, number][] = [];
    const send = (name: string, bytes: number, lane: Lane = 'data') =>
      network.transmit('a', 'b', bytes, lane).then(() => arrivals.push([name, clock.now()]));
    await clock.run(async () => {
      const first = [send('m1', 1000), send('m2', 2000), send('m3', 500)];
      await clock.sleep(20);
      // The link has been idle since 3.5 ms: m4 does not wait.
      const m4 = send('m4', 1000);
      await clock.sleep(0.5);
      // m4 serializes until 21 ms: m5, sent at 20.5 ms, waits behind it.
      const m5 = send('m5', 3000);
      await Promise.all([...first, m4, m5]);
    });
    expect(arrivals).toEqual([
      ['m1', 1 + 10],
      ['m2', 3 + 10],
      ['m3', 3.5 + 10],
      ['m4', 21 + 10],
      ['m5', 21 + 3 + 10],
    ]);
  });

  it('lets control messages overtake queued data on the same link', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({ topology: topology(), clock });
    const arrivals: [string, number][] = [];
    await clock.run(async () => {
      await Promise.all([
        network.transmit('a', 'b', 100_000, 'data').then(() => arrivals.push(['data1', clock.now()])),
        network.transmit('a', 'b', 100_000, 'data').then(() => arrivals.push(['data2', clock.now()])),
        network.transmit('a', 'b', 100, 'control').then(() => arrivals.push(['clock', clock.now()])),
        network.transmit('a', 'b', 100, 'control').then(() => arrivals.push(['barrier', clock.now()])),
      ]);
    });
    expect(arrivals).toEqual([
      ['clock', 0.1 + 10],
      ['barrier', 0.2 + 10],
      ['data1', 100 + 10],
      ['data2', 200 + 10],
    ]);
  });

  it('counts bytes and messages per directed link and lane, and resets the counters', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({
      topology: { ...topology(), lan: { a: { bandwidthMbps: 1000, latencyMs: 0.25 } } },
      clock,
    });
    await clock.run(async () => {
      await Promise.all([
        network.transmit('a', 'b', 1000, 'data'),
        network.transmit('a', 'b', 24, 'data'),
        network.transmit('a', 'b', 8, 'control'),
        network.transmit('b', 'a', 7, 'data'),
        network.transmit('a', 'a', 5, 'data'),
        // b has no LAN link: not delayed, not counted.
        network.transmit('b', 'b', 5, 'data'),
      ]);
    });
    const stats = network.stats();
    const link = (from: string, to: string) => stats.find((s) => s.from === from && s.to === to);
    expect(link('a', 'b')).toEqual({
      from: 'a',
      to: 'b',
      bytes: 1024,
      messages: 2,
      controlBytes: 8,
      controlMessages: 1,
    });
    expect(link('b', 'a')).toMatchObject({ bytes: 7, messages: 1, controlBytes: 0 });
    expect(link('a', 'a')).toMatchObject({ bytes: 5, messages: 1 });
    expect(link('a', 'c')).toMatchObject({ bytes: 0, messages: 0 });
    expect(link('b', 'b')).toBeUndefined();
    network.resetStats();
    expect(
      network.stats().every((s) => s.bytes + s.messages + s.controlBytes + s.controlMessages === 0),
    ).toBe(true);
  });

  it('delays within a region only through its modelled LAN link', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({
      topology: { ...topology(), lan: { a: { bandwidthMbps: 8, latencyMs: 0.5 } } },
      clock,
    });
    const times = await clock.run(async () => {
      const t: number[] = [];
      await network.transmit('a', 'a', 1000, 'data').then(() => t.push(clock.now()));
      await network.transmit('b', 'b', 1000, 'data').then(() => t.push(clock.now()));
      return t;
    });
    expect(times).toEqual([1.5, 1.5]);
  });
});

describe('InProcessHub over an EmulatedNetwork (virtual time)', () => {
  const bytes = (n: number) => new Uint8Array(n).fill(7);

  it('delays messages between regions by the link model, charging payload + subject + headers', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({ topology: topology(), clock });
    const hub = new InProcessHub({ network });
    expect(hub.clock).toBe(clock);
    const [pub, remote1, remote2, local] = [
      hub.connect('a'),
      hub.connect('b'),
      hub.connect('b'),
      hub.connect('a'),
    ];
    const arrivals: string[] = [];
    const read = (name: string, sub: AsyncIterable<Msg>, n: number) =>
      (async () => {
        let i = 0;
        for await (const _ of sub) {
          arrivals.push(`${name}@${clock.now()}`);
          if (++i === n) return;
        }
      })();
    const readers = [
      read('remote1', remote1.subscribe('upd.>'), 2),
      read('remote2', remote2.subscribe('upd.*'), 2),
      read('local', local.subscribe('upd.x'), 2),
    ];
    await clock.run(async () => {
      // 994 payload + 5 subject ("upd.x") + 1 + 0 header bytes ("k": "") = 1000 bytes = 1 ms at 8 Mbit/s.
      pub.publish('upd.x', bytes(994), { headers: { k: '' } });
      pub.publish('upd.x', bytes(1995));
      await pub.flush();
      await Promise.all(readers);
    });
    // The local subscriber is not delayed; both remote ones get each message at the same time: the
    // message crosses the link once for its region, like a gateway.
    expect(arrivals).toEqual(['local@0', 'local@0', 'remote1@11', 'remote2@11', 'remote1@13', 'remote2@13']);
    expect(network.stats().find((s) => s.from === 'a' && s.to === 'b')).toMatchObject({
      bytes: 3000,
      messages: 2,
    });
  });

  it('times a request and its reply over both directions of a link', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({ topology: topology(), clock });
    const hub = new InProcessHub({ network });
    const [client, server] = [hub.connect('a'), hub.connect('c')];
    const sub = server.subscribe('rpc');
    (async () => {
      for await (const m of sub) m.respond(bytes(9997 - 'rpc'.length), { headers: { a: 'b' } });
    })();
    const [at, size] = await clock.run(async () => {
      const reply = await client.request('rpc', bytes(10_000 - 3), { lane: 'control' });
      return [clock.now(), reply.data.byteLength];
    });
    // 10 000 bytes at 80 Mbit/s = 1 ms, + 50 ms, each way (reply subject and headers are charged too).
    const replyBytes = 9994 + '_INBOX.1.1'.length + 2;
    expect(size).toBe(9994);
    expect(at).toBeCloseTo(1 + 50 + (replyBytes * 8) / 80_000 + 50, 9);
    const stats = network.stats();
    expect(stats.find((s) => s.from === 'a' && s.to === 'c')).toMatchObject({
      controlMessages: 1,
      controlBytes: 10_000,
    });
    expect(stats.find((s) => s.from === 'c' && s.to === 'a')).toMatchObject({
      controlMessages: 1,
      controlBytes: replyBytes,
    });
  });

  it('prefers queue members in the publisher region, and crosses the WAN only when there are none', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({ topology: topology(), clock });
    const hub = new InProcessHub({ network });
    const got: string[] = [];
    const member = (region: string, name: string) => {
      const sub = hub.connect(region).subscribe('job', { queue: 'workers' });
      (async () => {
        for await (const m of sub) got.push(`${name}:${new TextDecoder().decode(m.data)}@${clock.now()}`);
      })();
      return sub;
    };
    const [a1, a2] = [member('a', 'a1'), member('a', 'a2')];
    member('b', 'b1');
    const pub = hub.connect('a');
    await clock.run(async () => {
      for (const i of [0, 1, 2, 3]) pub.publish('job', new TextEncoder().encode(String(i)));
      await pub.flush();
      a1.unsubscribe();
      a2.unsubscribe();
      pub.publish('job', new TextEncoder().encode('4'));
      await pub.flush();
    });
    // The last job crosses a -> b: 1 payload byte + 3 subject bytes at 8 Mbit/s, then 10 ms.
    expect(got).toEqual(['a1:0@0', 'a2:1@0', 'a1:2@0', 'a2:3@0', `b1:4@${((1 + 3) * 8) / 8000 + 10}`]);
    expect(network.stats().find((s) => s.from === 'a' && s.to === 'b')).toMatchObject({ messages: 1 });
  });

  it('refuses a publish over a missing link with a clear error, delivering it nowhere', async () => {
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({ topology: topology(), clock });
    const hub = new InProcessHub({ network });
    const [b, a, c] = [hub.connect('b'), hub.connect('a'), hub.connect('c')];
    const inA = a.subscribe('x');
    c.subscribe('x');
    expect(() => b.publish('x', bytes(1))).toThrow(/no link from 'b' to 'c'/);
    await clock.run(() => clock.sleep(100));
    expect(network.stats().every((s) => s.messages === 0)).toBe(true);
    inA.unsubscribe();
    expect(await inA[Symbol.asyncIterator]().next()).toMatchObject({ done: true });
  });

  it('repeats a run exactly: same seed, same events at the same virtual times', async () => {
    const run = async (seed: number) => {
      const clock = new VirtualClock();
      const network = new EmulatedNetwork({ topology: topologyProfile('ec2-11', { lanMbps: 100 }), clock });
      const hub = new InProcessHub({ network });
      const rng = createRng(seed);
      const log: string[] = [];
      const regions = EC2_11_REGIONS.slice(0, 4);
      const connections = regions.map((r) => hub.connect(r));
      const readers = connections.map((c, i) =>
        (async () => {
          let n = 0;
          for await (const m of c.subscribe('w.>')) {
            log.push(`${regions[i]}<-${m.subject}#${m.data.byteLength}@${clock.now().toFixed(6)}`);
            if (++n === 30) return;
          }
        })(),
      );
      await clock.run(async () => {
        await Promise.all(
          connections.map(async (c, i) => {
            for (let k = 0; k < 10; k++) {
              await clock.sleep(rng.int(50));
              c.publish(`w.${regions[i]}.${k}`, new Uint8Array(1 + rng.int(200_000)), {
                lane: rng.next() < 0.2 ? 'control' : 'data',
              });
            }
          }),
        );
        await Promise.all(readers);
      });
      return { log, stats: network.stats(), end: clock.now() };
    };
    const first = await run(42);
    expect(first.log).toHaveLength(120);
    expect(await run(42)).toEqual(first);
    expect((await run(43)).log).not.toEqual(first.log);
  });
});

describe('network profiles', () => {
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

  it.each(['lan', 'vc', 'ss', 'ec2-11'] as ProfileName[])('%s is a valid topology', (name) => {
    const t = topologyProfile(name);
    expect(() => new EmulatedNetwork({ topology: t })).not.toThrow();
    expect(t.links).toHaveLength(t.regions.length * (t.regions.length - 1));
  });

  it('ec2-11: 11 regions, one-way latency RTT/2, WAN bandwidth LAN/15 on average and LAN/60 at worst', () => {
    for (const lanMbps of [1000, 250]) {
      const t = topologyProfile('ec2-11', { lanMbps });
      expect(t.regions).toEqual([...EC2_11_REGIONS]);
      expect(t.regions).toContain('mumbai');
      const bw = t.links.map((l) => l.bandwidthMbps);
      expect(mean(bw)).toBeCloseTo(lanMbps / 15, 6);
      expect(Math.min(...bw)).toBeCloseTo(lanMbps / 60, 6);
      const worst = t.links.find((l) => l.bandwidthMbps === Math.min(...bw))!;
      expect([worst.from, worst.to].sort()).toEqual(['sao-paulo', 'singapore']);
      const vaCa = t.links.find((l) => l.from === 'virginia' && l.to === 'california')!;
      expect(vaCa.latencyMs).toBeCloseTo(72.74 / 2, 9);
      // Closer pairs have more bandwidth.
      const orCa = t.links.find((l) => l.from === 'oregon' && l.to === 'california')!;
      expect(orCa.bandwidthMbps).toBeGreaterThan(vaCa.bandwidthMbps);
    }
    expect(ec2RoundTripMs('singapore', 'sao-paulo')).toBe(328.1);
    expect(ec2RoundTripMs('sao-paulo', 'singapore')).toBe(328.1);
  });

  it('vc and ss are the close and the worst pair of ec2-11; lan runs every link at LAN speed', () => {
    const ec2 = topologyProfile('ec2-11');
    const find = (t: Topology, from: string, to: string) =>
      t.links.find((l) => l.from === from && l.to === to)!;
    const vc = topologyProfile('vc');
    expect(vc.regions).toEqual(['virginia', 'california']);
    expect(find(vc, 'virginia', 'california')).toEqual(find(ec2, 'virginia', 'california'));
    const ss = topologyProfile('ss');
    expect(find(ss, 'singapore', 'sao-paulo').bandwidthMbps).toBeCloseTo(1000 / 60, 9);
    expect(find(ss, 'singapore', 'sao-paulo').latencyMs).toBeCloseTo(328.1 / 2, 9);
    const lan = topologyProfile('lan', { lanMbps: 10_000, lanLatencyMs: 0.5 });
    expect(lan.links.every((l) => l.bandwidthMbps === 10_000 && l.latencyMs === 0.5)).toBe(true);
  });

  it('takes a region subset, a WAN scale for bandwidth sweeps, and optional LAN links', () => {
    const base = topologyProfile('ec2-11');
    const half = topologyProfile('ec2-11', { wanScale: 0.5 });
    expect(half.links.map((l) => l.bandwidthMbps)).toEqual(base.links.map((l) => l.bandwidthMbps * 0.5));
    const three = topologyProfile('ec2-11', { regions: ['tokyo', 'virginia', 'seoul'], withLan: true });
    expect(three.regions).toEqual(['virginia', 'tokyo', 'seoul']);
    expect(three.links).toHaveLength(6);
    expect(three.lan).toEqual({
      virginia: { bandwidthMbps: 1000, latencyMs: 0.25 },
      tokyo: { bandwidthMbps: 1000, latencyMs: 0.25 },
      seoul: { bandwidthMbps: 1000, latencyMs: 0.25 },
    });
  });

  it('sizes the LAN so a model push over the worst link costs the asked number of compute steps', async () => {
    const modelBytes = 4 * 100_000;
    const lanMbps = lanMbpsForRegime(modelBytes, 5, 30);
    const clock = new VirtualClock();
    const network = new EmulatedNetwork({ topology: topologyProfile('ss', { lanMbps }), clock });
    const ms = await clock.run(async () => {
      await network.transmit('singapore', 'sao-paulo', modelBytes, 'data');
      return clock.now();
    });
    expect(ms - 328.1 / 2).toBeCloseTo(30 * 5, 6);
    expect(() => lanMbpsForRegime(0, 5)).toThrow(RangeError);
  });

  it('refuses bad profile names and options with ConfigError', () => {
    expect(() => topologyProfile('moon' as ProfileName)).toThrow(ConfigError);
    expect(() => topologyProfile('ec2-11', { lanMbps: -1 })).toThrow(/lanMbps/);
    expect(() => topologyProfile('vc', { regions: ['tokyo'] })).toThrow(ConfigError);
    expect(() => topologyProfile('ec2-11', { regions: ['atlantis' as 'tokyo'] })).toThrow(/regions/);
  });
});

describe('EmulatedNetwork on the system clock', () => {
  it('delivers no sooner than the link latency (a sanity bound, not a speed test)', async () => {
    const network = new EmulatedNetwork({
      topology: {
        regions: ['a', 'b'],
        links: [{ from: 'a', to: 'b', bandwidthMbps: 1000, latencyMs: 30 }],
      },
      clock: systemClock,
    });
    const hub = new InProcessHub({ network });
    const sub = hub.connect('b').subscribe('t');
    const pub = hub.connect('a');
    const started = performance.now();
    pub.publish('t', new Uint8Array(100));
    const it = sub[Symbol.asyncIterator]();
    await it.next();
    const elapsed = performance.now() - started;
    // The upper bound only catches a hang.
    expect(elapsed).toBeGreaterThanOrEqual(30);
    expect(elapsed).toBeLessThan(10_000);
  });
});
