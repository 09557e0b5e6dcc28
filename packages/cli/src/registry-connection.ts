import { ModelRegistry, NatsTransport, type Transport } from '@geoml/transport';
import { CliError } from './cli-error.js';

/** A registry reached over NATS (JetStream KV + object store), with the connection to close. */
export interface RegistryConnection {
  readonly registry: ModelRegistry;
  readonly transport: Transport;
  close(): Promise<void>;
}

/** Connects to the JetStream model registry at `url` (`nats://host:port`, comma-separated for a cluster). */
export async function connectRegistry(url: string, region = 'cli'): Promise<RegistryConnection> {
  const servers = url.split(',').map((s) => s.trim());
  if (servers.some((s) => !/^(nats|tls):\/\/[^\s/]+$/.test(s) && !/^[^\s/:]+:\d+$/.test(s)))
    throw new CliError(`--registry expects nats://host:port, got ${JSON.stringify(url)}`);
  const transport = await NatsTransport.connect({ servers, region });
  return { registry: new ModelRegistry(transport), transport, close: () => transport.close() };
}
