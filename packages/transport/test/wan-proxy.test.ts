import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { ConfigError } from '@geoml/core';
import { afterEach, describe, expect, it } from 'vitest';
import { WanProxy } from '../src/wan-proxy.js';

/** A TCP echo server on a random loopback port. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** Sends `payload` through `port` and resolves with the echo and the elapsed wall time. */
async function echoThrough(port: number, payload: Buffer): Promise<{ back: Buffer; ms: number }> {
  const socket: Socket = createConnection({ host: '127.0.0.1', port });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const chunks: Buffer[] = [];
  let got = 0;
  const t0 = performance.now();
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo incomplete: ${got}/${payload.length}`)), 10_000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= payload.length) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  socket.write(payload);
  await done;
  const ms = performance.now() - t0;
  socket.destroy();
  return { back: Buffer.concat(chunks), ms };
}

describe('WanProxy', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('delays each direction by the one-way latency and counts bytes each way', async () => {
    const proxy = await proxiedEcho(1000, 60, true);
    expect(proxy.port).toBeGreaterThan(0);

    const payload = Buffer.from('clock 17 from region A');
    const { back, ms } = await echoThrough(proxy.port, payload);
    expect(back.equals(payload)).toBe(true);
    // There and back: two one-way latencies at least.
    expect(ms).toBeGreaterThanOrEqual(2 * 60 - 1);
    const stats = proxy.stats();
    expect(stats.connections).toBe(1);
    expect(stats.forward.bytes).toBe(payload.length);
    expect(stats.reverse.bytes).toBe(payload.length);
  });

  /** An echo server behind a started proxy; both are torn down after the test (the proxy if `stopAfter`). */
  async function proxiedEcho(
    bandwidthMbps: number,
    latencyMs: number,
    stopAfter: boolean,
  ): Promise<WanProxy> {
    const echo = await echoServer();
    cleanup.push(() => new Promise<void>((r) => echo.server.close(() => r())));
    const proxy = new WanProxy({ target: { host: '127.0.0.1', port: echo.port }, bandwidthMbps, latencyMs });
    await proxy.start();
    if (stopAfter) cleanup.push(() => proxy.stop());
    return proxy;
  }

  // 8 Mbit/s = 1 byte per microsecond: 200 KB take 200 ms to serialize each way.
  it('serializes at the configured bandwidth, keeping bytes in order', async () => {
    const proxy = await proxiedEcho(8, 10, true);
    const payload = Buffer.alloc(200_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const { back, ms } = await echoThrough(proxy.port, payload);
    expect(back.equals(payload)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(200 + 2 * 10 - 1);
    expect(proxy.stats().forward.bytes).toBe(payload.length);
    expect(proxy.stats().reverse.bytes).toBe(payload.length);
  });

  it('schedules with the link model on the injected clock: serialization queues, latency adds', async () => {
    // A clock frozen at t=1000 whose sleeps return at once: what the proxy asks to wait is exactly
    // deliver_at - now, with deliver_at = max(now, free_at) + bytes*8/bandwidth + latency.
    const waits: number[] = [];
    const clock = {
      now: () => 1000,
      sleep: async (ms: number) => {
        waits.push(ms);
      },
    };
    const echo = await echoServer();
    cleanup.push(() => new Promise<void>((r) => echo.server.close(() => r())));
    // 8 Mbit/s: 1000 bytes take exactly 1 ms to serialize.
    const proxy = new WanProxy({
      target: { host: '127.0.0.1', port: echo.port },
      bandwidthMbps: 8,
      latencyMs: 50,
      clock,
    });
    await proxy.start();
    cleanup.push(() => proxy.stop());
    const chunk = Buffer.alloc(1000, 3);
    await echoThrough(proxy.port, chunk);
    await echoThrough(proxy.port, chunk);
    // Each direction: the first 1000 bytes arrive at 1000 + 1 + 50; the link is busy until 1001, so the
    // next 1000 bytes start then and arrive at 1052 (time never advanced).
    expect(waits).toEqual([51, 51, 52, 52]);
    expect(proxy.stats().forward).toEqual({ bytes: 2000, chunks: 2 });
    expect(proxy.stats().reverse).toEqual({ bytes: 2000, chunks: 2 });
  });

  it('closes open connections on stop', async () => {
    const proxy = await proxiedEcho(100, 1, false);
    const socket = createConnection({ host: '127.0.0.1', port: proxy.port });
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    await proxy.stop();
    await closed;
    expect(proxy.stats().active).toBe(0);
  });

  it('refuses bad options with a message naming the field', () => {
    expect(
      () => new WanProxy({ target: { host: '127.0.0.1', port: 1 }, bandwidthMbps: -1, latencyMs: 5 }),
    ).toThrow(ConfigError);
    expect(
      () => new WanProxy({ target: { host: '127.0.0.1', port: 1 }, bandwidthMbps: -1, latencyMs: 5 }),
    ).toThrow(/bandwidthMbps/);
    expect(
      () => new WanProxy({ target: { host: '127.0.0.1', port: 0 }, bandwidthMbps: 1, latencyMs: 5 }),
    ).toThrow(/target\.port/);
  });
});
