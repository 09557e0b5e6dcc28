/**
 * geoml's main job across real processes: three regional nats-servers joined by gateways through shaped
 * WAN links (a JetStream supercluster), one Gaia training process per region, one Clipper serving process
 * hot-loading from the JetStream registry, and one load generator. Every child's output is shown with its
 * name; the run ends with a short summary. Ctrl-C (or any failing child) stops everything: children get
 * SIGTERM, then SIGKILL after a grace period, and the nats-servers are stopped. If this process is killed
 * outright (kill -9), nothing of the run stays: children see their IPC channel close, and the kernel kills
 * the nats-servers (their parent-death signal, see tethered-nats-server.sh).
 *
 *   pnpm demo:cluster [--quick]
 *   npx tsx --conditions=@geoml/source examples/cluster/main.ts [--quick]
 */
import { type Supercluster, startSupercluster } from '@geoml/transport';
import { Child } from './child.js';
import { type LoadResult, printSummary, type RegionResult } from './summary.js';
import { tetheredNatsServer } from './tethered-nats-server.js';

const quick = process.argv.includes('--quick');
const REGIONS = ['virginia', 'frankfurt', 'singapore'];
const SERVING_REGION = 'frankfurt';
const CLOCKS = quick ? 20 : 100;
const LOAD_SECONDS = quick ? 4 : 15;
// well under what one replica on a shared 2-core machine answers within the SLO
const LOAD_RATE = 40;
const DEADLINE_MS = quick ? 90_000 : 180_000;
const GRACE_MS = 3_000;
// Modest links with tens of ms one-way latency, roughly the shape of real inter-continental paths.
const WAN = [
  { between: ['virginia', 'frankfurt'] as [string, string], bandwidthMbps: 50, latencyMs: 40 },
  { between: ['virginia', 'singapore'] as [string, string], bandwidthMbps: 20, latencyMs: 90 },
  { between: ['frankfurt', 'singapore'] as [string, string], bandwidthMbps: 20, latencyMs: 80 },
];

const print = (line: string) => process.stdout.write(`${line}\n`);
const children: Child[] = [];
let cluster: Supercluster | undefined;
let stopping: Promise<void> | undefined;

/** Stops every child (bounded) and the nats-servers; safe to call more than once. */
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    await Promise.allSettled(children.map((c) => c.stop(GRACE_MS)));
    await cluster?.close().catch((e: Error) => print(`[cluster] stopping nats-servers: ${e.message}`));
  })();
  return stopping;
}

/** Ends the run with an error: everything is stopped first. */
async function fail(error: Error, code = 1): Promise<void> {
  if (stopping) return; // the first failure is the one that counts
  print(`[cluster] ${error.message}`);
  print('[cluster] stopping every process...');
  await shutdown();
  process.exit(code);
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    void fail(new Error(`${signal}: interrupted`), code);
  });
}
const deadline = setTimeout(
  () => void fail(new Error(`the run took longer than ${DEADLINE_MS / 1000} s`)),
  DEADLINE_MS,
);
deadline.unref();

const spawnChild = <R>(name: string, script: string, args: string[]): Child<R> => {
  const child = new Child<R>(name, script, args, print);
  print(`[cluster] started ${name} (pid ${child.pid})`);
  children.push(child as Child);
  // any child ending badly ends the run, unless it is already ending
  child.result.catch((e: Error) => {
    if (!stopping) void fail(e);
  });
  return child;
};

try {
  const started = performance.now();
  print(`[cluster] orchestrator pid ${process.pid}`);
  print(
    `[cluster] starting ${REGIONS.length} regional nats-servers (JetStream, gateways through WAN proxies)...`,
  );
  // Children leave when their IPC channel closes; the servers, started here, are tied to this process too.
  const binary = tetheredNatsServer();
  if (!binary)
    print('[cluster] no setpriv --pdeathsig here: if this process is killed -9, its nats-servers stay');
  cluster = await startSupercluster(REGIONS, { jetstream: true, wan: WAN, binary });
  for (const r of REGIONS)
    print(
      `[cluster] ${r}: ${cluster.urls(r).join(',')} (nats-server pid ${cluster.cluster(r).servers[0]?.pid})`,
    );
  const sc = cluster;
  const urls = (r: string) => sc.urls(r).join(',');

  const serving = spawnChild<{ versions: number[] }>('serve', 'serve-region.ts', [
    '--region',
    SERVING_REGION,
    '--nats',
    urls(SERVING_REGION),
  ]);
  const url = (await serving.waitForLine(/listening on (http:\/\/\S+)/, 60_000))[1] as string;

  const trainers = REGIONS.map((region, i) =>
    spawnChild<RegionResult>(`train ${region}`, 'train-region.ts', [
      ...['--region', region, '--regions', REGIONS.join(','), '--nats', urls(region)],
      ...['--clocks', String(CLOCKS), ...(i === 0 ? ['--publish'] : [])],
    ]),
  );
  const trained = await Promise.all(trainers.map((t) => t.result));
  const published = trained.find((t) => t.version !== undefined)?.version;
  await serving.waitForLine(new RegExp(`serving mnist v${published}\\b`), 60_000);

  const load = spawnChild<LoadResult>('load', 'load-generator.ts', [
    ...['--url', url, '--seconds', String(LOAD_SECONDS), '--rate', String(LOAD_RATE)],
  ]);
  const loadResult = await load.result;

  await serving.stop(GRACE_MS * 3);
  const served = await serving.result;
  const links = sc.routes.map((r) => {
    const s = r.proxy.stats();
    return { from: r.from, to: r.to, bytes: s.forward.bytes + s.reverse.bytes };
  });
  await shutdown();
  clearTimeout(deadline);
  printSummary({
    regions: trained,
    servedVersions: served.versions,
    load: loadResult,
    links,
    wallS: (performance.now() - started) / 1000,
    url,
  });
} catch (e) {
  await fail(e as Error);
}
