import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from '../src/errors.js';
import { type NatsServer, startNatsServer } from '../src/nats-server.js';
import { NatsTransport } from '../src/nats-transport.js';
import type { Msg } from '../src/transport.js';
import { describeConformance } from './conformance.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function nextWithin<T>(it: AsyncIterator<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nothing arrived within ${ms} ms`)), ms);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    if (r.done) throw new Error('iterator ended');
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

// The shared suite against a real JetStream server. max_payload is raised so the suite's large messages fit.
describeConformance('NatsTransport (spawned nats-server)', async () => {
  const server = await startNatsServer({ jetstream: true });
  return {
    connect: (region?: string) => NatsTransport.connect({ servers: server.url, region: region ?? 'local' }),
    teardown: () => server.close(),
  };
});

function serve(t: NatsTransport, subject: string, handler: (m: Msg) => void, queue?: string) {
  const sub = t.subscribe(subject, { queue });
  void (async () => {
    for await (const m of sub) handler(m);
  })();
  return sub;
}

describe('NatsTransport against a spawned JetStream nats-server', () => {
  let server: NatsServer;
  let a: NatsTransport;
  let b: NatsTransport;

  beforeAll(async () => {
    // A small max_payload makes TOO_LARGE cheap to provoke.
    server = await startNatsServer({ jetstream: true, config: { max_payload: 256 * 1024 } });
    a = await NatsTransport.connect({ servers: server.url, region: 'east' });
    b = await NatsTransport.connect({ servers: [server.url], region: 'west', name: 'west-client' });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.close();
  });

  it('carries the region it was connected with', () => {
    expect(a.region).toBe('east');
    expect(b.region).toBe('west');
    expect(a.maxPayload).toBe(256 * 1024);
  });

  it('delivers headers exactly as sent, across connections', async () => {
    const sub = b.subscribe('hdr.test');
    await b.flush();
    a.publish('hdr.test', bytes('x'), { headers: { 'X-Model': 'mnist', trace: 'abc' } });
    const m = await nextWithin(sub[Symbol.asyncIterator]());
    expect(m.headers).toEqual({ 'X-Model': 'mnist', trace: 'abc' });
    expect(text(m.data)).toBe('x');
    sub.unsubscribe();
    await sub.closed;
  });

  it('answers a request through a queue group and returns reply headers', async () => {
    const s1 = serve(b, 'svc.echo', (m) => m.respond(m.data, { headers: { served: 'b' } }), 'workers');
    await b.flush();
    const r = await a.request('svc.echo', bytes('ping'), { timeoutMs: 2000 });
    expect(text(r.data)).toBe('ping');
    expect(r.headers?.served).toBe('b');
    s1.unsubscribe();
  });

  it('maps no responders and timeouts to typed errors', async () => {
    await expect(a.request('svc.nobody', bytes('x'), { timeoutMs: 2000 })).rejects.toMatchObject({
      name: 'TransportError',
      code: 'NO_RESPONDERS',
    });
    const silent = b.subscribe('svc.silent');
    await b.flush();
    await expect(a.request('svc.silent', bytes('x'), { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    silent.unsubscribe();
  });

  it('refuses a payload over max_payload with TOO_LARGE and stays connected', async () => {
    const big = new Uint8Array(256 * 1024 + 1);
    expect(() => a.publish('big.x', big)).toThrow(TransportError);
    try {
      a.publish('big.x', big);
    } catch (err) {
      expect((err as TransportError).code).toBe('TOO_LARGE');
      expect((err as Error).message).toMatch(/max_payload/);
    }
    await expect(a.request('big.x', big)).rejects.toMatchObject({ code: 'TOO_LARGE' });
    // The connection is untouched: a normal message still goes through.
    const sub = b.subscribe('big.after');
    await b.flush();
    a.publish('big.after', bytes('ok'));
    expect(text((await nextWithin(sub[Symbol.asyncIterator]())).data)).toBe('ok');
    expect(a.isClosed).toBe(false);
    sub.unsubscribe();
  });

  it('refuses bad subjects, queue names and bucket names with clear errors', async () => {
    expect(() => a.publish('a b', bytes('x'))).toThrow(/whitespace/);
    expect(() => a.publish('a.*', bytes('x'))).toThrow(/wildcards/);
    expect(() => a.subscribe('a..b')).toThrow(/empty token/);
    expect(() => a.subscribe('a.>', { queue: 'bad queue' })).toThrow(TransportError);
    await expect(a.kv('bad.bucket')).rejects.toThrow(/kv bucket name 'bad.bucket' is invalid/);
    await expect(a.blobs('bad bucket')).rejects.toThrow(/blob bucket name/);
    const kv = await a.kv('names');
    await expect(kv.put('bad key', bytes('x'))).rejects.toMatchObject({ code: 'BAD_SUBJECT' });
    await expect(kv.get('.leading')).rejects.toMatchObject({ code: 'BAD_SUBJECT' });
    await expect(kv.watch({ key: 'a b' })).rejects.toMatchObject({ code: 'BAD_SUBJECT' });
  });

  it('keeps kv history and checks revisions on update', async () => {
    const kv = await a.kv('state', { history: 3 });
    const r1 = await kv.put('policy.exp3', bytes('v1'));
    const r2 = await kv.update('policy.exp3', bytes('v2'), r1);
    expect(r2).toBeGreaterThan(r1);
    await expect(kv.update('policy.exp3', bytes('v3'), r1)).rejects.toMatchObject({ code: 'WRONG_REVISION' });
    await expect(kv.update('policy.exp3', bytes('v3'), 0)).rejects.toMatchObject({ code: 'WRONG_REVISION' });
    const kvB = await b.kv('state');
    const e = await kvB.get('policy.exp3');
    expect(text(e?.value ?? new Uint8Array())).toBe('v2');
    expect(e?.revision).toBe(r2);
    await kv.delete('policy.exp3');
    expect(await kvB.get('policy.exp3')).toBeNull();
    // A deleted key may be created again with previousRevision 0.
    expect(await kv.update('policy.exp3', bytes('v4'), 0)).toBeGreaterThan(r2);
  });

  it('watches one key pattern: current values first, then live puts and deletes', async () => {
    const kv = await a.kv('watched');
    await kv.put('m.a', bytes('1'));
    await kv.put('m.b', bytes('1'));
    await kv.delete('m.b');
    await kv.put('other', bytes('1'));
    const w = await (await b.kv('watched')).watch({ key: 'm.*' });
    const it = w[Symbol.asyncIterator]();
    const first = await nextWithin(it);
    expect([first.key, first.operation]).toEqual(['m.a', 'PUT']);
    await kv.put('m.c', bytes('2'));
    await kv.delete('m.a');
    const c = await nextWithin(it);
    expect([c.key, text(c.value), c.operation]).toEqual(['m.c', '2', 'PUT']);
    const d = await nextWithin(it);
    expect([d.key, d.operation, d.value.length]).toEqual(['m.a', 'DEL', 0]);
    expect(await kv.keys('m.*')).toEqual(['m.c']);
    w.stop();
  });

  it('watch without history sees only new updates', async () => {
    const kv = await a.kv('live');
    await kv.put('k', bytes('old'));
    const w = await kv.watch({ includeHistory: false });
    const it = w[Symbol.asyncIterator]();
    await kv.put('k', bytes('new'));
    expect(text((await nextWithin(it)).value)).toBe('new');
    w.stop();
  });

  it('stores blobs larger than max_payload and reports their hex sha256', async () => {
    const data = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    const sha = createHash('sha256').update(data).digest('hex');
    const store = await a.blobs('weights');
    const info = await store.put('model-v1.onnx', data);
    expect(info).toEqual({ bucket: 'weights', name: 'model-v1.onnx', size: data.length, sha256: sha });
    const back = await (await b.blobs('weights')).get('model-v1.onnx');
    expect(back && Buffer.compare(Buffer.from(back), Buffer.from(data))).toBe(0);
    expect((await store.info('model-v1.onnx'))?.sha256).toBe(sha);
    expect((await store.list()).map((i) => i.name)).toEqual(['model-v1.onnx']);
    expect(await store.delete('model-v1.onnx')).toBe(true);
    expect(await store.delete('model-v1.onnx')).toBe(false);
    expect(await store.get('model-v1.onnx')).toBeNull();
    expect(await store.info('model-v1.onnx')).toBeNull();
  });

  it('fails with CLOSED after close and ends status iterators', async () => {
    const t = await NatsTransport.connect({ servers: server.url, region: 'tmp' });
    const events = t.status()[Symbol.asyncIterator]();
    await t.close();
    expect(t.isClosed).toBe(true);
    expect(await nextWithin(events)).toEqual({ type: 'closed' });
    expect((await events.next()).done).toBe(true);
    expect(() => t.publish('x', bytes('x'))).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await expect(t.request('x', bytes('x'))).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('NatsTransport against servers it cannot use', () => {
  it('says JetStream is off when kv is asked of a server without it', async () => {
    const plain = await startNatsServer();
    const t = await NatsTransport.connect({ servers: plain.url, region: 'x' });
    try {
      await expect(t.kv('b')).rejects.toMatchObject({
        code: 'SERVER',
        message: expect.stringMatching(/JetStream/),
      });
    } finally {
      await t.close();
      await plain.close();
    }
  });

  it('fails to connect with CONNECTION when nothing listens, and validates options', async () => {
    const plain = await startNatsServer();
    const url = plain.url;
    await plain.close();
    await expect(
      NatsTransport.connect({ servers: url, region: 'x', reconnect: false, connectTimeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'CONNECTION', message: expect.stringContaining(url) });
    await expect(NatsTransport.connect({ servers: [], region: 'x' })).rejects.toThrow(/servers/);
    await expect(NatsTransport.connect({ servers: url, region: '' })).rejects.toThrow(/region/);
  });
});
