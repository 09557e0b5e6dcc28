import { setTimeout as sleep } from 'node:timers/promises';
import { type NatsServer, startNatsServer } from '@geoml/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killRegions, type RegionReport, replicaSpread, runRegion } from './fixtures/region-process.js';

const REGIONS = ['A', 'B', 'C'];
const CLOCKS = 40;
/** The server is killed once a region reports this clock: mid-run, with updates in flight. */
const KILL_AT = 8;
/** How long the server stays down; clients retry every 1 s (+ up to 250 ms jitter). */
const DOWN_MS = 500;

/**
 * A real fault under loss recovery: three region processes train over ONE nats-server, which is killed
 * (SIGKILL) mid-run and restarted on the same port. NATS core drops what the server held, what a client
 * wrote just before the kill, and what the first client to reconnect flushes before the others have
 * subscribed again; mirrors must resend it. Whether a given kill loses anything is up to timing, so the
 * test checks a correct run whatever happened and reports the resend counts.
 */
describe('Gaia over NATS across a nats-server kill and restart', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  }, 30_000);

  afterAll(async () => {
    killRegions();
    await server?.close();
  });

  it('every region completes all its clocks and the replicas converge', async () => {
    const seen = new Map<string, number>();
    let reached: () => void = () => {};
    const killPoint = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const runs = REGIONS.map((r) =>
      runRegion(r, REGIONS, [server.url], {
        clocks: CLOCKS,
        evalEvery: 1,
        // Far past the outage, so a lost message that is never resent fails the run within the timeout.
        giveUpS: 30,
        timeoutMs: 120_000,
        onProgress: (c) => {
          seen.set(r, c);
          if (c >= KILL_AT) reached();
        },
      }),
    );
    const all = Promise.all(runs);
    const early = await Promise.race([killPoint.then(() => undefined), all]);
    expect(early, 'the regions finished before the kill').toBeUndefined();

    const atKill = REGIONS.map((r) => seen.get(r) ?? 0);
    await server.kill('SIGKILL');
    await sleep(DOWN_MS);
    await server.restart();
    const reports: RegionReport[] = await all;

    // The kill came mid-run: no region had finished, and every one went on past it.
    expect(Math.max(...atKill)).toBeLessThan(CLOCKS);
    for (const r of reports) {
      expect(r.clocks).toEqual({ min: CLOCKS, max: CLOCKS });
      expect(r.final).toBeLessThan(0.5 * r.first);
    }
    expect(replicaSpread(reports)).toBeLessThan(0.1);
    // A copy is dropped as a duplicate only if it was sent again.
    const resent = reports.reduce((n, r) => n + r.resent.messages, 0);
    const duplicates = reports.reduce((n, r) => n + r.resent.duplicates, 0);
    expect(duplicates).toBeLessThanOrEqual(resent);
    console.log(
      `nats-server killed at clocks [${atKill}]; resent ${JSON.stringify(reports.map((r) => ({ region: r.region, ...r.resent })))}`,
    );
  }, 150_000);
});
