import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Supercluster, startSupercluster } from '@geoml/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REGIONS = ['A', 'B', 'C'];
const fixture = fileURLToPath(new URL('./fixtures/nats-region.ts', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

interface RegionReport {
  region: string;
  clocks: { min: number; max: number };
  first: number;
  final: number;
  w: number[];
  links: { from: string; to: string; bytes: number }[];
}

/** Runs one region in its own process; resolves with its report, rejects on a non-zero exit. */
function runRegion(region: string, urls: string[]): Promise<RegionReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@geoml/source', fixture, region, REGIONS.join(','), urls.join(',')],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`region ${region} exited ${code}: ${err}`));
      else resolve(JSON.parse(line) as RegionReport);
    });
  });
}

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
    await sc?.close();
  });

  it('three region processes train one model together and their replicas converge', async () => {
    const reports = await Promise.all(REGIONS.map((r) => runRegion(r, sc.urls(r))));
    for (const r of reports) {
      expect(r.clocks).toEqual({ min: 25, max: 25 });
      expect(r.final).toBeLessThan(0.5 * r.first);
      // every region shipped significant updates to both others
      for (const peer of REGIONS.filter((p) => p !== r.region)) {
        expect(r.links.some((l) => l.from === r.region && l.to === peer && l.bytes > 0)).toBe(true);
      }
    }
    // the replicas agree up to the updates still below the significance threshold
    const [a, b, c] = reports.map((r) => r.w) as [number[], number[], number[]];
    const gap = (x: number[], y: number[]) => Math.max(...x.map((v, i) => Math.abs(v - (y[i] as number))));
    const scale = Math.max(...a.map(Math.abs));
    expect(gap(a, b)).toBeLessThan(0.1 * scale);
    expect(gap(a, c)).toBeLessThan(0.1 * scale);
    // the gateway traffic went through the shaped WAN links
    const proxied = sc.routes.reduce((n, route) => n + route.proxy.stats().forward.bytes, 0);
    expect(proxied).toBeGreaterThan(10_000);
  }, 120_000);
});
