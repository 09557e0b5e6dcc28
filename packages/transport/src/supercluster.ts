/**
 * A supercluster on loopback: one routed cluster per region, joined by gateways, each listed gateway
 * direction dialled through its own `WanProxy`. Resolves only when gateways, routes and (with JetStream)
 * one meta group are up, and (with one server per region) every gateway goes through its proxy.
 */
import { type Clock, parseConfig } from '@geoml/core';
import { z } from 'zod';
import { TransportError } from './errors.js';
import { checkGatewaysUseProxies } from './gateway-proxy-check.js';
import { clusterOf, type NatsCluster } from './nats-cluster.js';
import { mergeNatsConf, type NatsConf } from './nats-conf.js';
import { freePort, type NatsServer, NatsServerProcess, waitForMonitor } from './nats-server.js';
import { retryOnPortClash } from './nats-start-retry.js';
import { WanProxy } from './wan-proxy.js';

/**
 * A shaped gateway link. `between` shapes both directions alike; `from`/`to` shapes one direction: the
 * gateway connection `from` dials to `to`, which carries every message published in `from` for `to` (a
 * directed link of a `Topology` maps to one of these).
 */
export type WanLinkSpec = ({ between: [string, string] } | { from: string; to: string }) & {
  bandwidthMbps: number;
  latencyMs: number;
};

export interface SuperclusterOptions {
  jetstream?: boolean;
  /**
   * Servers per region (each region is one cluster). Default 1. With JetStream keep 1: on 2.9 a region
   * of several servers may form its own JetStream meta group (detected: the start fails).
   */
  serversPerRegion?: number;
  /** Gateway links to shape; a pair not listed is plain loopback. */
  wan?: WanLinkSpec[];
  /** Clock for the proxies' link model (default wall time). */
  clock?: Clock;
  /** Extra configuration for every server. */
  config?: NatsConf;
  binary?: string;
  startTimeoutMs?: number;
}

/** One gateway direction: `from` dials `to`'s gateway through `proxy`. */
export interface WanRoute {
  from: string;
  to: string;
  proxy: WanProxy;
}

export interface Supercluster {
  readonly regions: string[];
  cluster(region: string): NatsCluster;
  /** Client URLs of a region's servers. */
  urls(region: string): string[];
  /** The proxy that `from`'s gateway connection to `to` goes through, if that pair is shaped. */
  proxy(from: string, to: string): WanProxy | undefined;
  readonly routes: WanRoute[];
  stop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Every server follows the same JetStream meta leader. With several servers per region, a region's
 * servers may elect a leader among themselves before the gateways connect: a split that never heals,
 * where each region's JetStream is its own. That start fails here and is retried from scratch.
 */
async function waitForOneMetaGroup(servers: NatsServer[]): Promise<void> {
  const leaders = new Map<NatsServer, string>();
  await Promise.all(
    servers.map((s) =>
      waitForMonitor(
        s,
        '/jsz',
        (j) => {
          const leader = (j.meta_cluster as { leader?: unknown } | undefined)?.leader;
          if (typeof leader !== 'string') return false;
          leaders.set(s, leader);
          return true;
        },
        'a JetStream meta leader',
      ),
    ),
  );
  const distinct = new Set(leaders.values());
  if (distinct.size > 1) {
    throw new TransportError('SERVER', `JetStream meta group split: leaders ${[...distinct].join(', ')}`);
  }
}

const regionName = /^[A-Za-z0-9_-]+$/;
const linkShape = { bandwidthMbps: z.number().positive(), latencyMs: z.number().min(0) };
const superclusterSchema = z.object({
  regions: z
    .array(z.string().regex(regionName, 'region names are letters, digits, _ and -'))
    .min(1)
    .refine((r) => new Set(r).size === r.length, 'region names must be unique'),
  serversPerRegion: z.number().int().min(1).max(5).default(1),
  wan: z
    .array(
      z.union([
        z.strictObject({ between: z.tuple([z.string(), z.string()]), ...linkShape }),
        z.strictObject({ from: z.string(), to: z.string(), ...linkShape }),
      ]),
    )
    .default([]),
});

/** The directed gateway links that `wan` asks to shape; refuses unknown regions and duplicates. */
function directedLinks(wan: z.output<typeof superclusterSchema>['wan'], regions: string[]) {
  const out: { from: string; to: string; bandwidthMbps: number; latencyMs: number }[] = [];
  for (const link of wan) {
    const pairs =
      'between' in link ? [link.between, [link.between[1], link.between[0]]] : [[link.from, link.to]];
    for (const [from, to] of pairs as [string, string][]) {
      for (const r of [from, to]) {
        if (!regions.includes(r))
          throw new TransportError('SERVER', `startSupercluster: wan link names unknown region '${r}'`);
      }
      if (from === to)
        throw new TransportError('SERVER', `startSupercluster: wan link from '${from}' to itself`);
      if (out.some((l) => l.from === from && l.to === to)) {
        throw new TransportError('SERVER', `startSupercluster: wan link ${from} -> ${to} given twice`);
      }
      out.push({ from, to, bandwidthMbps: link.bandwidthMbps, latencyMs: link.latencyMs });
    }
  }
  return out;
}

/**
 * One cluster per region, joined by gateways. A `system_account` (SYS) is configured because
 * nats-server requires one for JetStream across gateways; clients without credentials land in the
 * APP account (`no_auth_user`), which has JetStream when `jetstream` is set. Each directed gateway link
 * listed in `wan` is dialled through its own `WanProxy`.
 */
export function startSupercluster(
  regions: string[],
  options: SuperclusterOptions = {},
): Promise<Supercluster> {
  return retryOnPortClash(() => startSuperclusterOnce(regions, options));
}

async function startSuperclusterOnce(regions: string[], options: SuperclusterOptions): Promise<Supercluster> {
  const spec = parseConfig(
    superclusterSchema,
    { regions, serversPerRegion: options.serversPerRegion, wan: options.wan },
    'supercluster',
  );
  const links = directedLinks(spec.wan, regions);
  const per = spec.serversPerRegion;
  const ports = new Map<string, { cluster: number[]; gateway: number[] }>();
  for (const region of regions) {
    ports.set(region, {
      cluster: await Promise.all(Array.from({ length: per }, () => freePort())),
      gateway: await Promise.all(Array.from({ length: per }, () => freePort())),
    });
  }
  const portsOf = (region: string) => ports.get(region) as { cluster: number[]; gateway: number[] };

  const routes: WanRoute[] = [];
  for (const { from, to, bandwidthMbps, latencyMs } of links) {
    const target = { host: '127.0.0.1', port: portsOf(to).gateway[0] as number };
    routes.push({
      from,
      to,
      proxy: new WanProxy({ target, bandwidthMbps, latencyMs, clock: options.clock }),
    });
  }
  const proxyOf = (from: string, to: string) => routes.find((r) => r.from === from && r.to === to)?.proxy;

  const accounts: NatsConf = {
    accounts: {
      SYS: { users: [{ user: 'sys', password: `sys-${Math.random().toString(36).slice(2)}` }] },
      APP: {
        users: [{ user: 'app', password: 'app' }],
        ...(options.jetstream ? { jetstream: 'enabled' } : {}),
      },
    },
    system_account: 'SYS',
    no_auth_user: 'app',
  };

  const clusters = new Map<string, NatsCluster>();
  const all: NatsServerProcess[] = [];
  const byRegion = new Map<string, NatsServerProcess[]>();
  const stopAll = async () => {
    await Promise.all(all.map((s) => s.stop()));
  };
  const closeAll = async () => {
    await Promise.all(all.map((s) => s.close()));
    await Promise.all(routes.map((r) => r.proxy.stop()));
  };
  try {
    await Promise.all(routes.map((r) => r.proxy.start()));
    for (const region of regions) {
      const own = portsOf(region);
      const gateways = regions.map((other) => {
        const proxy = other === region ? undefined : proxyOf(region, other);
        const urls = proxy
          ? [`nats://${proxy.address}`]
          : portsOf(other).gateway.map((p) => `nats://127.0.0.1:${p}`);
        return { name: other, urls };
      });
      const servers = own.cluster.map((clusterPort, i) => {
        const conf: NatsConf = {
          ...accounts,
          // A cluster block even for one server: JetStream across gateways needs routes configured.
          cluster: {
            name: region,
            listen: `127.0.0.1:${clusterPort}`,
            routes: own.cluster.map((p) => `nats-route://127.0.0.1:${p}`),
          },
          gateway: { name: region, listen: `127.0.0.1:${own.gateway[i]}`, gateways },
        };
        return new NatsServerProcess(
          {
            jetstream: options.jetstream,
            serverName: `${region}-${i}`,
            binary: options.binary,
            startTimeoutMs: options.startTimeoutMs,
          },
          mergeNatsConf(conf, options.config),
        );
      });
      all.push(...servers);
      byRegion.set(region, servers);
      clusters.set(region, clusterOf(region, servers));
    }
    await Promise.all(all.map((s) => s.start()));
    const others = regions.length - 1;
    // Every server dials one server of each other region (messages leave on these); which server of a
    // region receives the inbound ones is the dialler's choice, so inbound is only certain with one server.
    const gatewaysUp = (j: Record<string, unknown>) =>
      Object.keys((j.outbound_gateways as object | undefined) ?? {}).length >= others &&
      (per > 1 || Object.keys((j.inbound_gateways as object | undefined) ?? {}).length >= others);
    await Promise.all(
      all.map((s) => waitForMonitor(s, '/gatewayz', gatewaysUp, `gateways to ${others} other regions`)),
    );
    // With several servers per region, peers also learn each other's real gateway addresses through their
    // cluster, so only a one-server-per-region supercluster can promise that every byte crosses a proxy.
    if (per === 1) await checkGatewaysUseProxies(byRegion, proxyOf);
    if (per > 1)
      await Promise.all(
        all.map((s) =>
          waitForMonitor(s, '/routez', (j) => Number(j.num_routes) >= per - 1, `${per - 1} routes`),
        ),
      );
    if (options.jetstream) await waitForOneMetaGroup(all);
  } catch (err) {
    await closeAll();
    throw err;
  }

  const clusterOfRegion = (region: string): NatsCluster => {
    const c = clusters.get(region);
    if (!c)
      throw new TransportError(
        'SERVER',
        `no region '${region}' in this supercluster (${regions.join(', ')})`,
      );
    return c;
  };
  return {
    regions: [...regions],
    cluster: clusterOfRegion,
    urls: (region) => clusterOfRegion(region).urls,
    proxy: proxyOf,
    routes,
    stop: stopAll,
    close: closeAll,
  };
}
