import { type Supercluster, startSupercluster } from '@geoml/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killRegions, replicaSpread, runRegion } from './fixtures/region-process.js';

const REGIONS = ['A', 'B', 'C'];

describe('Gaia over NATS: one process per region, gateways through WanProxy links', () => {
  let sc: Supercluster;

  beforeAll(async () => {
    sc = await startSupercluster(REGIONS, {
      wan: [
        { between: ['A', 'B'], bandwidthMbps: 50, latencyMs: 15 },
        { between: ['A', 'C'], bandwidthMbps: 20, latencyMs: 30 },
        { between: ['B', 'C'], bandwidthMbps: 20, latencyMs: 30 },
      ],
    });
  }, 60_000);

  afterAll(async () => {
    killRegions();
    await sc?.close();
  });

  it('three region processes train one model together and their replicas converge', async () => {
    const reports = await Promise.all(REGIONS.map((r) => runRegion(r, REGIONS, sc.urls(r))));
    for (const r of reports) {
      expect(r.clocks).toEqual({ min: 25, max: 25 });
      expect(r.final).toBeLessThan(0.5 * r.first);
      // every region shipped significant updates to both others
      for (const peer of REGIONS.filter((p) => p !== r.region)) {
        expect(r.links.some((l) => l.from === r.region && l.to === peer && l.bytes > 0)).toBe(true);
      }
    }
    // the replicas agree up to the updates still below the significance threshold
    expect(replicaSpread(reports)).toBeLessThan(0.1);
    // the gateway traffic went through the shaped WAN links
    const proxied = sc.routes.reduce((n, route) => n + route.proxy.stats().forward.bytes, 0);
    expect(proxied).toBeGreaterThan(10_000);
  }, 120_000);
});
