import { ConfigError } from '@geoml/core';
import { describe, expect, it } from 'vitest';
import { train } from '../src/trainer.js';
import { quadraticWorkload } from './quadratic.js';

// Fixed cost model and virtual time: the same runs on every machine.
const cfg = {
  mode: 'asp' as const,
  topology: 'vc' as const,
  workersPerRegion: 1,
  costModel: { stepMs: 0.5, batchSize: 64 },
  stop: { maxClocks: 200 },
  evalEvery: 50,
};

/** Data-lane Mbit/s over the whole run on the one WAN link from the first region. */
async function linkMbps(extra: Record<string, unknown>): Promise<number> {
  const r = await train({ ...cfg, workload: quadraticWorkload({ size: 4096 }), ...extra });
  const link = r.links.find((l) => l.from !== l.to);
  return ((link?.bytes ?? 0) * 8) / r.elapsedS / 1e6;
}

describe('train() with a WAN budget (budgetMbps)', () => {
  it('holds each link near the budget over a whole run, whatever the shards per region', async () => {
    const free = await linkMbps({});
    expect(free).toBeGreaterThan(0.8); // what the link carries without a budget
    for (const shardsPerRegion of [1, 4]) {
      const held = await linkMbps({ budgetMbps: 0.5, shardsPerRegion });
      expect(held, `${shardsPerRegion} shards`).toBeGreaterThan(0.4);
      expect(held, `${shardsPerRegion} shards`).toBeLessThan(0.55);
    }
  });

  it('the authors’ step rule is available, and slower to pull the link down to the budget', async () => {
    const ratio = await linkMbps({ budgetMbps: 0.5 });
    const step = await linkMbps({ budgetMbps: 0.5, budgetRule: 'step' });
    expect(step).toBeGreaterThan(1.3 * ratio);
  });

  it('progress events show how far the budget raised the threshold (absent without a budget)', async () => {
    const raises: (number | undefined)[] = [];
    const onProgress = (e: { thresholdRaise?: number }) => raises.push(e.thresholdRaise);
    await train({ ...cfg, workload: quadraticWorkload({ size: 4096 }), budgetMbps: 0.5 }, { onProgress });
    expect(raises.length).toBeGreaterThan(0);
    expect(Math.max(...(raises as number[]))).toBeGreaterThan(0);
    raises.length = 0;
    await train({ ...cfg, workload: quadraticWorkload({ size: 4096 }) }, { onProgress });
    expect(raises.every((r) => r === undefined)).toBe(true);
  });

  it('a malformed budget names its field', async () => {
    const bad = (extra: Record<string, unknown>) =>
      train({ ...cfg, workload: quadraticWorkload(), ...extra } as Parameters<typeof train>[0]);
    await expect(bad({ budgetMbps: -1 })).rejects.toThrow(ConfigError);
    await expect(bad({ budgetMbps: -1 })).rejects.toThrow(/budgetMbps/);
    await expect(bad({ budgetMbps: 1, budgetRule: 'pid' })).rejects.toThrow(/budgetRule/);
  });
});
