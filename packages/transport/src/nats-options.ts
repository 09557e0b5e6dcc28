/**
 * Options of `NatsTransport.connect`, validated, and their translation to nats.js connection options:
 * auth (user/password, token, nkey seed, creds), TLS, and reconnecting forever with a jittered wait.
 */
import { parseConfig } from '@geoml/core';
import { fromSeed } from '@nats-io/nkeys';
import {
  type Authenticator,
  type ConnectionOptions,
  credsAuthenticator,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import { z } from 'zod';
import { TransportError } from './errors.js';

const tlsSchema = z
  .object({
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    caFile: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    ca: z.string().optional(),
    /** The server must have `handshake_first` set. */
    handshakeFirst: z.boolean().optional(),
  })
  .strict();

export const natsTransportOptionsSchema = z
  .object({
    /** One URL or several (`nats://host:4222`, `tls://host:4222`, `host:4222`). */
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    region: z.string().min(1),
    /** Client name shown by the server's monitoring; default `geoml-<region>`. */
    name: z.string().min(1).optional(),
    user: z.string().optional(),
    pass: z.string().optional(),
    token: z.string().optional(),
    /** An nkey user seed (`SU...`); the client signs the server's nonce with it. */
    nkeySeed: z.string().startsWith('SU', 'an nkey user seed starts with SU').optional(),
    /** Contents of a `.creds` file (JWT + seed), for operator-mode deployments. */
    creds: z.string().optional(),
    /** `true` requires TLS with the system CAs; an object passes files or PEM strings through. */
    tls: z.union([z.boolean(), tlsSchema]).optional(),
    reconnect: z
      .union([
        z.literal(false),
        z
          .object({
            /** -1 (default): never give up. */
            maxAttempts: z.number().int().min(-1).default(-1),
            waitMs: z.number().int().min(0).default(1000),
            /** Random extra wait, so many clients do not reconnect in lockstep. */
            jitterMs: z.number().int().min(0).default(250),
          })
          .strict(),
      ])
      .default({ maxAttempts: -1, waitMs: 1000, jitterMs: 250 }),
    /** Handshake timeout of each connection attempt. Default 20000. */
    connectTimeoutMs: z.number().int().positive().optional(),
    /** Default request timeout. Default 5000. */
    requestTimeoutMs: z.number().int().positive().default(5000),
    pingIntervalMs: z.number().int().positive().optional(),
  })
  .strict();

export type NatsTransportOptions = z.input<typeof natsTransportOptionsSchema>;

/** Validated options and the nats.js `ConnectionOptions` they stand for. */
export function natsConnectionOptions(options: NatsTransportOptions): {
  parsed: z.output<typeof natsTransportOptionsSchema>;
  connection: ConnectionOptions;
} {
  const o = parseConfig(natsTransportOptionsSchema, options, 'NatsTransport options');
  const authenticator: Authenticator[] = [];
  if (o.nkeySeed) {
    const seed = new TextEncoder().encode(o.nkeySeed);
    try {
      fromSeed(seed);
    } catch (err) {
      throw new TransportError('CONNECTION', 'NatsTransport options: nkeySeed is not a valid nkey seed', {
        cause: err,
      });
    }
    authenticator.push(nkeyAuthenticator(seed));
  }
  if (o.creds) authenticator.push(credsAuthenticator(new TextEncoder().encode(o.creds)));
  const connection: ConnectionOptions = {
    servers: o.servers,
    name: o.name ?? `geoml-${o.region}`,
    user: o.user,
    pass: o.pass,
    token: o.token,
    authenticator: authenticator.length > 0 ? authenticator : undefined,
    tls: o.tls === true ? {} : o.tls === false ? null : o.tls,
    reconnect: o.reconnect !== false,
    maxReconnectAttempts: o.reconnect === false ? 0 : o.reconnect.maxAttempts,
    reconnectTimeWait: o.reconnect === false ? undefined : o.reconnect.waitMs,
    reconnectJitter: o.reconnect === false ? undefined : o.reconnect.jitterMs,
    timeout: o.connectTimeoutMs,
    pingInterval: o.pingIntervalMs,
    // Stack traces captured per request cost more than they tell in a transport layer.
    noAsyncTraces: true,
  };
  return { parsed: o, connection };
}
