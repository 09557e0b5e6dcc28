import { VirtualClock } from '@geoml/core';
import { EmulatedNetwork, InProcessHub, type Transport, topologyProfile } from '@geoml/transport';
import { describe, expect, it } from 'vitest';
import { GaiaError } from '../src/errors.js';
import { Mirror } from '../src/mirror.js';
import { MirrorLink } from '../src/mirror-link.js';
import type { MirrorOptions } from '../src/mirror-options.js';
import { createMnistClassifier } from '../src/mnist-classifier.js';
import { ParameterShard } from '../src/parameter-shard.js';
import { ResendQueue } from '../src/resend-queue.js';
import { type TrainOptions, train } from '../src/trainer.js';
import { lossy, outage, partitioned } from './lossy-transport.js';
import { quadraticWorkload } from './quadratic.js';

const SIZE = 256;
const CLOCKS = 8;

/** Region `r`'s update at clock `t`: sparse, in 1/64 steps so every sum is exact in float32. */
function update(r: number, t: number) {
  const keys: number[] = [];
  for (let i = 0; i < SIZE; i++) if ((i + r + t) % 3 === 0) keys.push(i);
  return {
    indices: Uint32Array.from(keys),
    values: Float32Array.from(keys, (i) => (((r * 7 + t * 3 + i) % 9) - 4) / 64),
  };
}

/**
 * Two regions over the emulated ss link in virtual time, each training CLOCKS clocks gated by its
 * mirror clock (DS = 0, so a lost message stalls the peer), with `fates` deciding what each region's
 * transport does with its data messages.
 */
async function ssPair(
  fates: Record<string, (k: number) => 'drop' | 'twice' | 'send'>,
  resend?: MirrorOptions['resend'],
) {
  const clock = new VirtualClock();
  const network = new EmulatedNetwork({ topology: topologyProfile('ss'), clock });
  const hub = new InProcessHub({ clock, network });
  const regions = ['singapore', 'sao-paulo'];
  const nodes = regions.map((region, r) => {
    const shard = new ParameterShard({ lo: 0, hi: SIZE }, new Float32Array(SIZE).fill(1));
    const fate = fates[region] ?? (() => 'send');
    const mirror = new Mirror(lossy(hub.connect(region), fate), clock, shard, {
      region,
      peers: regions.filter((p) => p !== region),
      subjectOf: (p) => `m.${p}`,
      ds: 0,
      barrier: true,
      barrierBytes: 65_536,
      filter: { tau0: 0 },
      lastClock: CLOCKS,
      ...(resend ? { resend } : {}),
    });
    mirror.start();
    return { region, r, shard, mirror };
  });
  let trainedAt = Number.NaN;
  await clock.run(async () => {
    await Promise.all(
      nodes.map(async (n) => {
        for (let t = 1; t <= CLOCKS; t++) {
          await n.mirror.mirrorClock?.wait(t - 1);
          const u = update(n.r, t);
          n.shard.apply(u);
          n.mirror.accumulate(u);
          await clock.sleep(20);
          n.mirror.tick(t);
        }
      }),
    );
    trainedAt = clock.now();
    // Let the last shipments land.
    await clock.sleep(5_000);
  });
  for (const n of nodes) n.mirror.stop();
  const want = new Float32Array(SIZE).fill(1);
  for (let t = 1; t <= CLOCKS; t++) {
    for (const r of [0, 1]) {
      const u = update(r, t);
      u.indices.forEach((i, j) => {
        want[i] = (want[i] as number) + (u.values[j] as number);
      });
    }
  }
  return { nodes, want, trainedAt };
}

describe('loss recovery between mirrors', () => {
  it('without loss, nothing is resent and both replicas hold every update once', async () => {
    const { nodes, want } = await ssPair({});
    for (const n of nodes) {
      expect([...n.shard.values], n.region).toEqual([...want]);
      expect(n.mirror.retransmit.resent, n.region).toBe(0);
      expect(n.mirror.retransmit.duplicates, n.region).toBe(0);
    }
  });

  it('resends dropped data messages; each update lands exactly once though later ones came first', async () => {
    const { nodes, want } = await ssPair({
      singapore: (k) => (k === 1 || k === 2 || k === 5 ? 'drop' : 'send'),
      'sao-paulo': (k) => (k === 3 ? 'drop' : 'send'),
    });
    for (const n of nodes) {
      // A replica missing an update, or holding one twice, differs from `want`.
      expect([...n.shard.values], n.region).toEqual([...want]);
      expect(n.mirror.rejected, n.region).toBe(0);
    }
    expect(nodes[0]?.mirror.retransmit.resent).toBeGreaterThanOrEqual(3);
    expect(nodes[1]?.mirror.retransmit.resent).toBeGreaterThanOrEqual(1);
  });

  it('recovers a loss followed by later messages at once, from the gap the receiver reports', async () => {
    // Resend timers of 1e9 ms: only the receiver's report can bring k = 1 back within the run.
    const never = { minMs: 1e9, initialMs: 1e9, giveUpMs: 1e10 };
    const { nodes, want, trainedAt } = await ssPair({ singapore: (k) => (k === 1 ? 'drop' : 'send') }, never);
    for (const n of nodes) expect([...n.shard.values], n.region).toEqual([...want]);
    // Virtual time would reach a timer of 1e9 ms when nothing else is left to run: not it, then.
    expect(trainedAt).toBeLessThan(60_000);
    expect(nodes[0]?.mirror.retransmit.resent).toBeGreaterThanOrEqual(1);
  });

  it('applies a data message delivered twice once', async () => {
    const { nodes, want } = await ssPair({ singapore: (k) => (k % 2 === 0 ? 'twice' : 'send') });
    for (const n of nodes) expect([...n.shard.values], n.region).toEqual([...want]);
    expect(nodes[1]?.mirror.retransmit.duplicates).toBe(CLOCKS / 2);
    expect(nodes[0]?.mirror.retransmit.resent).toBe(0);
  });
});

describe('MirrorLink and ResendQueue', () => {
  it('applies data messages in link order, holding those after a gap, dropping repeats', () => {
    const l = new MirrorLink(100);
    const applied: number[] = [];
    const deliver = (n: number) => l.accept(n, 0, () => applied.push(n));
    expect(deliver(0)).toBe(true);
    expect(deliver(2)).toBe(true);
    expect(deliver(3)).toBe(true);
    expect(applied).toEqual([0]);
    expect(deliver(2)).toBe(false);
    expect(deliver(1)).toBe(true);
    expect(applied).toEqual([0, 1, 2, 3]);
    expect(deliver(1)).toBe(false);
    expect(l.received).toBe(4);
    expect(l.duplicates).toBe(2);
  });

  it('waits at least congestedMs while bytes are queued on the link', () => {
    const q = new ResendQueue({ minMs: 100, initialMs: 300, congestedMs: 30_000 });
    q.add(0, new Uint8Array(1), 0);
    expect(q.deadline(true)).toBe(30_000);
    expect(q.due(5_000, true)).toEqual([]);
    expect(q.due(5_000, false).map((u) => u.n)).toEqual([0]);
  });

  it('times out at 4 × the longest ack delay (floor minMs), backs off, and learns only from messages sent once', () => {
    const q = new ResendQueue({ minMs: 100, initialMs: 300 });
    q.add(0, new Uint8Array(1), 0);
    expect(q.deadline()).toBe(300);
    expect(q.acknowledged(0, 200)).toBe(true);
    expect(q.timeoutMs()).toBe(800);
    q.add(1, new Uint8Array(1), 1000);
    expect(q.due(1799)).toEqual([]);
    expect(q.due(1800).map((u) => u.n)).toEqual([1]);
    expect(q.timeoutMs()).toBe(1600);
    // An ack of a resent message: no sample (it may be the first copy's), but the backoff ends.
    expect(q.acknowledged(1, 5000)).toBe(true);
    expect(q.timeoutMs()).toBe(800);
    expect(q.acknowledged(1, 6000)).toBe(false);
  });
});

/** 30 clocks of the quadratic workload over regions a and b in virtual time, a's connection through `wrapA`. */
function trainAB(
  clock: VirtualClock,
  wrapA: (t: Transport) => Transport,
  more: { giveUpS?: number; onProgress?: TrainOptions['onProgress'] } = {},
) {
  const hub = new InProcessHub({ clock });
  return train(
    {
      workload: quadraticWorkload(),
      mode: 'asp',
      topology: { regions: ['a', 'b'] },
      costModel: { stepMs: 1, batchSize: 8 },
      stop: { maxClocks: 30 },
      evalEvery: 5,
      ...(more.giveUpS ? { resend: { giveUpS: more.giveUpS } } : {}),
    },
    {
      clock,
      connect: (r) => (r === 'a' ? wrapA(hub.connect(r)) : hub.connect(r)),
      ...(more.onProgress ? { onProgress: more.onProgress } : {}),
    },
  );
}

describe('train() over a transport that loses data messages', () => {
  it('completes every clock and learns as without loss, resending what was lost', async () => {
    const run = (fate?: (k: number) => 'drop' | 'twice' | 'send') =>
      trainAB(new VirtualClock(), (t) => (fate ? lossy(t, fate) : t));
    const clean = await run();
    const lossyRun = await run((k) => (k === 2 || k === 5 || k === 11 ? 'drop' : k === 7 ? 'twice' : 'send'));
    expect(clean.resent).toEqual({ messages: 0, duplicates: 0 });
    expect(lossyRun.clocks).toEqual({ min: 30, max: 30 });
    expect(lossyRun.resent?.messages).toBeGreaterThanOrEqual(3);
    expect(lossyRun.resent?.duplicates).toBeGreaterThanOrEqual(1);
    expect(lossyRun.finalQuality.value).toBeLessThan(lossyRun.series[0]?.value as number);
    expect(lossyRun.finalQuality.value).toBeCloseTo(clean.finalQuality.value, 1);
  });
});

describe('a congested link without loss', () => {
  it('sends nothing again while the peer waits for data still queued on the link', async () => {
    // The benchmark's MNIST what-if run (bench/README.md, gaia): asp ships 36 % of a 50 890-float model
    // per 4.3 ms clock over 12.7 Mbit/s, so the queue grows for the whole run and each region waits
    // (DS 16) for data queued behind the rest, sending no clock, no acknowledgement, for seconds.
    // With the resend timer alone this run sent 62 messages again and 5 MB more.
    const result = await train({
      workload: createMnistClassifier({ batchSize: 32 }),
      mode: 'asp',
      topology: 'ss',
      profileOptions: { lanMbps: 761.15, wanLatencyScale: 0.0087 },
      costModel: { stepMs: 4.279, batchSize: 32 },
      ds: 16,
      stop: { maxClocks: 40 },
      evalEvery: 40,
    });
    expect(result.clocks).toEqual({ min: 40, max: 40 });
    expect(result.blocked.mirrorMs).toBeGreaterThan(1_000);
    expect(result.resent).toEqual({ messages: 0, duplicates: 0 });
  });
});

describe('train() across a connection outage', () => {
  /** Region a's connection loses all it publishes for 2 s from clock 10 on, then (`reconnect`) says it is back. */
  const run = (reconnect: boolean) => {
    const clock = new VirtualClock();
    let a: ReturnType<typeof outage> | undefined;
    let cut = false;
    const wrap = (t: Transport) => {
      a = outage(t);
      return a.transport;
    };
    return trainAB(clock, wrap, {
      giveUpS: 20,
      onProgress: (e) => {
        if (cut || e.clock < 10 || !a) return;
        const link = a;
        cut = true;
        link.down();
        void clock.sleep(2000).then(() => link.up(reconnect));
      },
    });
  };

  it('workers send their lost update and read again on reconnect; mirrors resend theirs', async () => {
    const result = await run(true);
    expect(result.clocks).toEqual({ min: 30, max: 30 });
    expect(result.resent?.messages).toBeGreaterThanOrEqual(2);
    expect(result.finalQuality.value).toBeLessThan(0.5 * (result.series[0]?.value as number));
  });

  it('without the reconnect event a worker waits forever for its lost update: the run ends LINK_LOST', async () => {
    const error = await run(false).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GaiaError);
    expect((error as GaiaError).code).toBe('LINK_LOST');
  });
});

describe('a peer that stays silent', () => {
  it('ends the run with GaiaError LINK_LOST naming both regions, within the give-up time', async () => {
    const clock = new VirtualClock();
    const hub = new InProcessHub({ clock });
    // After its 3rd data message, nothing region b sends to a arrives any more (a partition).
    const connect = (r: string) => (r === 'b' ? partitioned(hub.connect(r), 3) : hub.connect(r));
    const error = await train(
      {
        workload: quadraticWorkload(),
        mode: 'asp',
        topology: { regions: ['a', 'b'] },
        costModel: { stepMs: 1, batchSize: 8 },
        stop: { maxClocks: 200 },
        resend: { minTimeoutMs: 50, initialTimeoutMs: 100, giveUpS: 5 },
      },
      { clock, connect },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GaiaError);
    expect((error as GaiaError).code).toBe('LINK_LOST');
    expect((error as GaiaError).message).toMatch(/region a: no word from region b on link gaia\.run\.m\.b/);
    expect(clock.now()).toBeLessThan(60_000);
  });
});
