import { TransportError } from './errors.js';
import type { NatsServer } from './nats-server.js';
import type { WanProxy } from './wan-proxy.js';

/**
 * Servers gossip their real gateway addresses, and now and then one dials a peer region directly instead
 * of through the WanProxy it was configured with; its traffic would then escape the shaping and the byte
 * counts. Fails (and `startSupercluster` retries) when an outbound gateway does not end at its proxy.
 * Meaningful with one server per region only (see the call).
 */
export async function checkGatewaysUseProxies(
  byRegion: ReadonlyMap<string, readonly NatsServer[]>,
  proxyOf: (from: string, to: string) => WanProxy | undefined,
): Promise<void> {
  for (const [region, servers] of byRegion) {
    for (const server of servers) {
      const res = await fetch(`${server.monitorUrl}/gatewayz`);
      const json = (await res.json()) as {
        outbound_gateways?: Record<string, { connection?: { port?: number } }>;
      };
      for (const [other, gw] of Object.entries(json.outbound_gateways ?? {})) {
        const proxy = proxyOf(region, other);
        const port = gw.connection?.port;
        if (proxy && port !== undefined && !proxy.address.endsWith(`:${port}`)) {
          throw new TransportError(
            'SERVER',
            `gateway bypassed its proxy: ${region} dialled ${other} at port ${port}, not ${proxy.address}`,
          );
        }
      }
    }
  }
}
