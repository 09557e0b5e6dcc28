import { describe, expect, it } from 'vitest';
import { LinkBacklog } from '../src/link-backlog.js';
import type { BarrierMeta } from '../src/mirror-messages.js';
import { decodeMessage } from '../src/wire.js';
import { ssMirrors } from './ss-mirrors.js';

describe('LinkBacklog', () => {
  it('judges nothing queued before it has measured a round trip', () => {
    const l = new LinkBacklog(100);
    for (let i = 0; i < 10; i++) l.sent(i, 1000, i);
    expect(l.unacknowledged).toBe(10_000);
    expect(l.queued).toBe(0);
    expect(l.congested).toBe(false);
  });

  it("takes the peer's hold out of a round trip: a late report is not a slow link", () => {
    const l = new LinkBacklog(100);
    l.sent(0, 50, 0);
    // Delivered at 100, reported 40 ms later, the report takes 100 ms back: 200 ms round trip.
    l.acknowledged(0, 240, 40);
    expect(l.baseRtt).toBe(200);
  });

  it('counts bytes in flight on a long link as capacity, and only bytes beyond it as queued', () => {
    const l = new LinkBacklog(100);
    // An idle 200 ms round trip, one 50-byte message every 10 ms: 20 in flight, each acked on time.
    let acked = -1;
    for (let i = 0; i < 200; i++) {
      const now = i * 10;
      while ((acked + 1) * 10 + 200 <= now) l.acknowledged(++acked, now, 0);
      expect(l.congested, `at ${now} ms`).toBe(false);
      l.sent(i, 50, now);
    }
    expect(l.unacknowledged).toBeGreaterThan(l.bound * 9);
    expect(l.inFlightCapacity).toBeGreaterThanOrEqual(l.unacknowledged - 50);
    // The sender now outruns the link: 10 more messages at once, none of which can be on time.
    for (let i = 200; i < 210; i++) l.sent(i, 50, 2000);
    expect(l.queued).toBeGreaterThan(l.bound);
    expect(l.congested).toBe(true);
  });

  it('on a short link, one message still serializing ahead of the next is already a queue', () => {
    const l = new LinkBacklog(100);
    l.sent(0, 80, 0);
    l.acknowledged(0, 20, 0); // 20 ms: its own serialization and latency
    l.sent(1, 80, 21);
    l.sent(2, 80, 22);
    expect(l.queued).toBe(160);
    expect(l.congested).toBe(true);
    l.acknowledged(2, 62, 0);
    expect(l.queued).toBe(0);
  });
});

const SIZE = 2048;

function ssPair() {
  // Clocks carry the acknowledgements; a DS this loose never holds a reader back.
  const { clock, hub, a: sender, b: receiver } = ssMirrors({ size: SIZE, ds: 1_000_000 });
  /**
   * Every `periodMs` both regions reach a clock; the sender adds 1/64 to every key first, so each of its
   * messages is a dense 8 KiB update and the receiver's values count the messages applied.
   */
  const run = (clocks: number, periodMs: number, during?: (t: number) => void) =>
    clock.run(async () => {
      for (let t = 1; t <= clocks; t++) {
        const u = new Float32Array(SIZE).fill(1 / 64);
        sender.shard.apply(u);
        sender.mirror.accumulate(u);
        sender.mirror.tick(t);
        receiver.mirror.tick(t);
        during?.(t);
        await clock.sleep(periodMs);
      }
      await clock.sleep(10_000);
    });
  return { clock, hub, sender, receiver, run };
}

describe('selective barrier over an emulated ss link, in virtual time', () => {
  it('an idle long link announces nothing, though more than barrierBytes are in flight', async () => {
    const { sender, receiver, run } = ssPair();
    let inFlight = 0;
    // 8 KiB every 10 ms is 6.6 Mbit/s: 40 % of the link, ~35 messages (280 KiB) in flight.
    await run(300, 10, () => {
      inFlight = Math.max(inFlight, sender.mirror.backlogTo('sao-paulo')?.unacknowledged ?? 0);
    });
    expect(inFlight).toBeGreaterThan(4 * 65_536);
    expect(sender.mirror.announced).toBe(0);
    expect(receiver.mirror.barrier.blockedKeys).toBe(0);
    expect(receiver.shard.values[0]).toBe(1 + 300 / 64);
  });

  it('a link driven past its bandwidth announces, and reads of announced keys wait for their values', async () => {
    const { clock, hub, sender, receiver, run } = ssPair();
    // Announcements as the receiver gets them (a second subscriber on the same subject).
    const announced: { seq: number; at: number }[] = [];
    void (async () => {
      for await (const m of hub.connect('sao-paulo').subscribe('m.sao-paulo.barrier')) {
        announced.push({ seq: decodeMessage<BarrierMeta>(m.data).meta.seq, at: clock.now() });
      }
    })();
    const reads: { seq: number; before: number; after: number; waitedMs: number }[] = [];
    // 8 KiB every 3 ms is 22 Mbit/s: more than the link carries, so a queue builds.
    await run(300, 3, () => {
      const last = announced.at(-1);
      if (!last || reads.length >= 5 || !receiver.mirror.barrier.isBlocked(0, SIZE)) return;
      const start = clock.now();
      const before = receiver.shard.values[0] as number;
      void receiver.mirror.barrier.waitClear(0, SIZE).then(() => {
        reads.push({
          seq: last.seq,
          before,
          after: receiver.shard.values[0] as number,
          waitedMs: clock.now() - start,
        });
      });
    });
    expect(sender.mirror.announced).toBeGreaterThan(10);
    expect(reads.length).toBeGreaterThan(0);
    for (const r of reads) {
      expect(r.waitedMs).toBeGreaterThan(0);
      // The read went on only once messages 0..seq (each adding 1/64) had been applied.
      expect(r.before).toBeLessThan(1 + (r.seq + 1) / 64);
      expect(r.after).toBeGreaterThanOrEqual(1 + (r.seq + 1) / 64);
    }
    expect(receiver.mirror.barrier.blockedKeys).toBe(0);
    expect(receiver.shard.values[0]).toBe(1 + 300 / 64);
  });
});
