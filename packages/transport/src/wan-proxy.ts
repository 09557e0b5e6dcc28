/**
 * A TCP proxy on 127.0.0.1 that makes a loopback connection behave like a WAN link, for real processes
 * (e.g. a gateway between two nats-servers). Each direction is one link with the emulation's model:
 * `deliver_at = max(now, free_at) + bytes*8/bandwidth + latency`, `free_at` advancing by the
 * serialization time, shared by every connection through the proxy. Bytes are counted per direction.
 */

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { type Clock, parseConfig, systemClock } from '@geoml/core';
import { z } from 'zod';
import { TransportError } from './errors.js';

const wanProxyOptionsSchema = z
  .object({
    /** Port to listen on; 0 (default) picks a free one. */
    listenPort: z.number().int().min(0).max(65535).default(0),
    target: z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).strict(),
    /** Link bandwidth each way, megabits per second. */
    bandwidthMbps: z.number().positive(),
    /** One-way latency each way, milliseconds. */
    latencyMs: z.number().min(0),
    clock: z.custom<Clock>((v) => typeof (v as Clock | undefined)?.now === 'function').optional(),
  })
  .strict();

export type WanProxyOptions = z.input<typeof wanProxyOptionsSchema>;

/** Bytes and chunks delivered in one direction. */
export interface WanDirectionStats {
  bytes: number;
  chunks: number;
}

export interface WanProxyStats {
  /** Connections accepted so far. */
  connections: number;
  /** Connections currently open. */
  active: number;
  /** Client to target (the dialling side's outbound traffic). */
  forward: WanDirectionStats;
  /** Target back to client. */
  reverse: WanDirectionStats;
}

/** One direction of the emulated link: when it is next free to serialize. */
class Link {
  private freeAt = 0;
  readonly stats: WanDirectionStats = { bytes: 0, chunks: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly bitsPerMs: number,
    private readonly latencyMs: number,
  ) {}

  /** Reserves the link for `bytes`; returns the time they arrive at the far end. */
  schedule(bytes: number): number {
    const start = Math.max(this.clock.now(), this.freeAt);
    this.freeAt = start + (bytes * 8) / this.bitsPerMs;
    return this.freeAt + this.latencyMs;
  }
}

/** Pause reading from a sender once this much is in flight on its link (TCP-like backpressure). */
const HIGH_WATER = 8 * 1024 * 1024;

/**
 * A shaping TCP proxy: `start()` listens on 127.0.0.1 (`port`), every accepted connection is relayed to
 * `target` through the two directed links; `stats()` counts what crossed; `stop()` closes everything.
 */
export class WanProxy {
  private readonly opts: z.output<typeof wanProxyOptionsSchema>;
  private readonly clock: Clock;
  private readonly forward: Link;
  private readonly reverse: Link;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private connections = 0;
  private boundPort = 0;

  constructor(options: WanProxyOptions) {
    this.opts = parseConfig(wanProxyOptionsSchema, options, 'WanProxy options');
    this.clock = this.opts.clock ?? systemClock;
    const bitsPerMs = this.opts.bandwidthMbps * 1000;
    this.forward = new Link(this.clock, bitsPerMs, this.opts.latencyMs);
    this.reverse = new Link(this.clock, bitsPerMs, this.opts.latencyMs);
  }

  /** The port the proxy listens on (after `start()`). */
  get port(): number {
    return this.boundPort;
  }

  /** `host:port` to dial instead of the target. */
  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  async start(): Promise<number> {
    if (this.server) return this.boundPort;
    // Half-open allowed so one side's FIN still lets queued bytes of the other direction through.
    const server = createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new TransportError(
            'CONNECTION',
            `WanProxy cannot listen on 127.0.0.1:${this.opts.listenPort}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      server.listen(this.opts.listenPort, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : 0;
    return this.boundPort;
  }

  /** Closes the listener and every open connection. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  stats(): WanProxyStats {
    return {
      connections: this.connections,
      active: this.sockets.size / 2,
      forward: { ...this.forward.stats },
      reverse: { ...this.reverse.stats },
    };
  }

  private accept(client: Socket): void {
    this.connections++;
    const upstream = createConnection({
      host: this.opts.target.host,
      port: this.opts.target.port,
      allowHalfOpen: true,
    });
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const teardown = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
    this.pipe(client, upstream, this.forward);
    this.pipe(upstream, client, this.reverse);
  }

  /** Relays `from` to `to` through `link`, delivering chunks in order at their scheduled times. */
  private pipe(from: Socket, to: Socket, link: Link): void {
    const queue: { data: Buffer; at: number }[] = [];
    let queued = 0;
    let pumping = false;
    let ended = false;
    const pump = async () => {
      pumping = true;
      while (queue.length > 0) {
        const head = queue[0] as { data: Buffer; at: number };
        const wait = head.at - this.clock.now();
        if (wait > 0) await this.clock.sleep(wait);
        queue.shift();
        queued -= head.data.length;
        if (to.destroyed) return;
        to.write(head.data);
        link.stats.bytes += head.data.length;
        link.stats.chunks++;
        if (queued < HIGH_WATER / 2 && from.isPaused()) from.resume();
      }
      pumping = false;
      if (ended && !to.destroyed) to.end();
    };
    from.on('data', (data: Buffer) => {
      queue.push({ data, at: link.schedule(data.length) });
      queued += data.length;
      if (queued > HIGH_WATER) from.pause();
      if (!pumping) pump().catch(() => to.destroy());
    });
    from.on('end', () => {
      ended = true;
      if (!pumping && !to.destroyed) to.end();
    });
  }
}
