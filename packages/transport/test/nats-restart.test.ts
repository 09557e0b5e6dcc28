import { afterEach, describe, expect, it } from 'vitest';
import { type NatsServer, startNatsServer } from '../src/nats-server.js';
import { NatsTransport } from '../src/nats-transport.js';
import type { Msg, TransportStatus } from '../src/transport.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Polls `cond` every 20 ms for at most `ms`. */
async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('NatsTransport across server restarts', () => {
  let server: NatsServer | undefined;
  const open: NatsTransport[] = [];
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
    await server?.close();
  });

  async function scenario(down: (s: NatsServer) => Promise<void>) {
    server = await startNatsServer({ jetstream: true });
    const port = server.port;
    const reconnect = { waitMs: 100, jitterMs: 50 };
    const sub = await NatsTransport.connect({ servers: server.url, region: 'r', reconnect });
    const pub = await NatsTransport.connect({ servers: server.url, region: 'r', reconnect });
    open.push(sub, pub);

    const events: TransportStatus['type'][] = [];
    const pubEvents: TransportStatus['type'][] = [];
    void (async () => {
      for await (const s of sub.status()) events.push(s.type);
    })();
    void (async () => {
      for await (const s of pub.status()) pubEvents.push(s.type);
    })();
    const received: string[] = [];
    const subscription = sub.subscribe('updates.>');
    void (async () => {
      for await (const m of subscription as AsyncIterable<Msg>) received.push(text(m.data));
    })();
    const kv = await sub.kv('survives');
    await kv.put('clock', bytes('1'));
    await sub.flush();
    pub.publish('updates.a', bytes('before'));
    await until(() => received.includes('before'), 'the first message');

    await down(server);
    await until(() => events.includes('disconnect'), 'a disconnect event');
    await server.restart();
    expect(server.port).toBe(port);
    await until(() => events.includes('reconnect'), 'a reconnect event');
    await until(() => pubEvents.includes('reconnect'), 'the publisher to reconnect');
    await pub.flush();
    await sub.flush();

    // The subscription was re-established by the client: it keeps receiving.
    pub.publish('updates.b', bytes('after'));
    await until(() => received.includes('after'), 'a message after the restart');
    // JetStream state survived (file store in the server's kept temp dir) and kv still works.
    expect(text((await kv.get('clock'))?.value ?? new Uint8Array())).toBe('1');
    await kv.put('clock', bytes('2'));
    expect(text((await (await pub.kv('survives')).get('clock'))?.value ?? new Uint8Array())).toBe('2');
    expect(events.indexOf('disconnect')).toBeLessThan(events.indexOf('reconnect'));
    expect(sub.isClosed).toBe(false);
  }

  it('reconnects after a graceful stop and restart on the same port', async () => {
    await scenario((s) => s.stop());
  });

  it('reconnects after kill -9 and restart', async () => {
    await scenario((s) => s.kill('SIGKILL'));
  });
});
