import { ConfigError } from '@geoml/core';
import { InProcessHub } from '@geoml/transport';
import { describe, expect, it } from 'vitest';
import { train } from '../src/trainer.js';
import { quadraticWorkload } from './quadratic.js';

const base = {
  topology: { regions: ['a', 'b'] },
  workersPerRegion: 2,
  costModel: { stepMs: 1, batchSize: 8 },
  stop: { maxClocks: 15 },
  evalEvery: 5,
  time: 'wall' as const,
};

describe('train() in wall time and one region per process', () => {
  it('runs in wall time on the system clock', async () => {
    const r = await train({ ...base, workload: quadraticWorkload(), mode: 'asp' });
    expect(r.clocks).toEqual({ min: 15, max: 15 });
    expect(r.elapsedS).toBeGreaterThan(0);
    expect(r.finalQuality.value).toBeLessThan(r.series[0]?.value as number);
  });

  it('two "processes", each running its own region over a shared transport, meet and train together', async () => {
    const hub = new InProcessHub();
    const run = (region: string) =>
      train(
        { ...base, workload: quadraticWorkload(), mode: 'asp', run: 'split' },
        { connect: (r) => hub.connect(r), regions: [region] },
      );
    const [a, b] = await Promise.all([run('a'), run('b')]);
    expect(a.regions).toEqual(['a']);
    expect(b.regions).toEqual(['b']);
    expect(a.clocks).toEqual({ min: 15, max: 15 });
    expect(b.clocks).toEqual({ min: 15, max: 15 });
    // each side shipped significant updates to the other, and both replicas learned
    expect(a.links.some((l) => l.from === 'a' && l.to === 'b' && l.bytes > 0)).toBe(true);
    expect(b.links.some((l) => l.from === 'b' && l.to === 'a' && l.bytes > 0)).toBe(true);
    expect(a.finalQuality.value).toBeLessThan(a.series[0]?.value as number);
    expect(b.finalQuality.value).toBeLessThan(b.series[0]?.value as number);
  });

  it('refuses a per-process run of a mode whose server spans regions', async () => {
    const error = await train(
      { ...base, workload: quadraticWorkload(), mode: 'bsp' },
      { regions: ['a'] },
    ).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
  });
});
