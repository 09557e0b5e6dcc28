import { describe, expect, it } from 'vitest';
import { ssMirrors } from './ss-mirrors.js';

describe('Mirror: a peer clock counts once the data it covers has arrived', () => {
  it('holds the mirror clock until the clock’s shipment is applied, though the clock came first', async () => {
    // ss at a hundredth of its bandwidth: a 16 KiB shipment takes ~0.8 s to serialize, its clock ~0.
    const size = 4096;
    const { clock, a, b } = ssMirrors({ size, ds: 0, wanScale: 0.01 });
    const seen: { at: number; slowest: number; value: number }[] = [];
    await clock.run(async () => {
      const u = new Float32Array(size).fill(0.5);
      a.shard.apply(u);
      a.mirror.accumulate(u);
      a.mirror.tick(1);
      for (let k = 0; k < 40; k++) {
        await clock.sleep(50);
        seen.push({
          at: clock.now(),
          slowest: b.mirror.mirrorClock?.slowest ?? -1,
          value: b.shard.values[0] as number,
        });
      }
    });
    const counted = seen.find((s) => s.slowest >= 1);
    // The clock message arrives after one latency (164 ms); the data ~0.8 s later.
    expect(seen.some((s) => s.at > 400 && s.slowest < 1)).toBe(true);
    expect(counted).toBeDefined();
    // Whenever b counted a's clock 1, a's clock-1 update was already in b's replica.
    for (const s of seen.filter((x) => x.slowest >= 1)) expect(s.value).toBe(1.5);
  });
});
