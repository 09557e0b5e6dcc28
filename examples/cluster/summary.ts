/** The cluster demo's closing summary: what a person reads in ten seconds. */
import type { LoadReport } from '../demo/load.js';

/** What a training process reports. */
export interface RegionResult {
  readonly region: string;
  readonly clocks: number;
  readonly accuracy: number;
  readonly elapsedS: number;
  readonly sentBytes: number;
  readonly version?: number;
}

/** What the load generator reports: the demo's load report and its throughput. */
export type LoadResult = LoadReport & { readonly rps: number };

export interface ClusterSummary {
  readonly regions: readonly RegionResult[];
  readonly servedVersions: readonly number[];
  readonly load: LoadResult;
  /** Bytes through each shaped gateway link (both directions of its TCP connection). */
  readonly links: readonly { from: string; to: string; bytes: number }[];
  readonly wallS: number;
  readonly url: string;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

export function printSummary(s: ClusterSummary): void {
  const out: string[] = ['', `── geoml cluster demo: done in ${s.wallS.toFixed(0)} s ──`];
  out.push('training (ASP, one process per region, wall time):');
  for (const r of s.regions)
    out.push(
      `  ${r.region.padEnd(10)} ${r.clocks} clocks in ${r.elapsedS.toFixed(1)} s  accuracy ${r.accuracy.toFixed(3)}` +
        `  sent ${mb(r.sentBytes)}${r.version !== undefined ? `  → published mnist v${r.version}` : ''}`,
    );
  out.push('WAN bytes per proxied gateway link:');
  for (const l of s.links) out.push(`  ${`${l.from} → ${l.to}`.padEnd(24)} ${mb(l.bytes)}`);
  const l = s.load;
  out.push(
    `serving (${s.url}): versions served ${s.servedVersions.map((v) => `v${v}`).join(', ') || 'none'}`,
    `  ${l.requests} requests in ${l.seconds.toFixed(1)} s = ${l.rps.toFixed(0)} req/s, p50 ${l.p50Ms.toFixed(1)} ms, p99 ${l.p99Ms.toFixed(1)} ms`,
    `  accuracy ${(l.correct / Math.max(1, l.requests)).toFixed(3)}, defaults ${l.defaults}, failed requests: ${l.failed}`,
    'all processes stopped',
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
