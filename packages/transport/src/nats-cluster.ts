/**
 * Several nats-servers on loopback joined as one routed cluster. Resolves only when the routes and (with
 * JetStream) the meta leader are up, so a test can use the servers at once.
 */
import { TransportError } from './errors.js';
import { mergeNatsConf, type NatsConf } from './nats-conf.js';
import { freePort, type NatsServer, NatsServerProcess, waitForMonitor } from './nats-server.js';
import { retryOnPortClash } from './nats-start-retry.js';

export interface NatsClusterOptions {
  /** Cluster name; default `geoml`. */
  name?: string;
  jetstream?: boolean;
  /** Extra configuration for every member. */
  config?: NatsConf;
  binary?: string;
  startTimeoutMs?: number;
}

/** Servers of one routed cluster. */
export interface NatsCluster {
  readonly name: string;
  readonly servers: NatsServer[];
  /** Client URLs of every member. */
  readonly urls: string[];
  /** Stops every member (state kept; each server can `restart()`). */
  stop(): Promise<void>;
  /** Stops every member and deletes their temp dirs. */
  close(): Promise<void>;
}

/** Starts `n` routed servers sharing one cluster name. */
export function startNatsCluster(n: number, options: NatsClusterOptions = {}): Promise<NatsCluster> {
  return retryOnPortClash(() => startNatsClusterOnce(n, options));
}
async function startNatsClusterOnce(n: number, options: NatsClusterOptions): Promise<NatsCluster> {
  if (!Number.isInteger(n) || n < 1)
    throw new TransportError('SERVER', `startNatsCluster: n must be a positive integer, got ${n}`);
  const name = options.name ?? 'geoml';
  const clusterPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routes = clusterPorts.map((p) => `nats-route://127.0.0.1:${p}`);
  const servers = clusterPorts.map(
    (port, i) =>
      new NatsServerProcess(
        {
          jetstream: options.jetstream,
          serverName: `${name}-${i}`,
          binary: options.binary,
          startTimeoutMs: options.startTimeoutMs,
        },
        mergeNatsConf({ cluster: { name, listen: `127.0.0.1:${port}`, routes } }, options.config),
      ),
  );
  const cluster = clusterOf(name, servers);
  try {
    await Promise.all(servers.map((s) => s.start()));
    await Promise.all(
      servers.map((s) =>
        waitForMonitor(s, '/routez', (j) => Number(j.num_routes) >= n - 1, `${n - 1} routes`),
      ),
    );
    if (options.jetstream) await Promise.all(servers.map((s) => waitForMetaLeader(s)));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/** A `NatsCluster` view of servers already made (shared with the supercluster, one per region). */
export function clusterOf(name: string, servers: NatsServerProcess[]): NatsCluster {
  return {
    name,
    servers,
    get urls() {
      return servers.map((s) => s.url);
    },
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

/** The JetStream meta group has a leader: streams (KV, blobs) can be created. */
function waitForMetaLeader(server: NatsServer): Promise<void> {
  return waitForMonitor(
    server,
    '/jsz',
    (j) => typeof (j.meta_cluster as { leader?: unknown } | undefined)?.leader === 'string',
    'a JetStream meta leader',
  );
}
