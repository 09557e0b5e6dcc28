import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransportError, type TransportErrorCode } from '../src/errors.js';
import type { KvEntry, Msg, Subscription, Transport } from '../src/transport.js';

/**
 * The one behaviour every `Transport` must show, NATS semantics being the reference. Each implementation's
 * test file calls `describeConformance` with a harness that opens connections to one shared "server"
 * (an in-process hub, a nats-server it spawned, ...). Tests use unique subjects and bucket names, so a
 * harness may keep its server for the whole suite.
 */
export interface ConformanceHarness {
  /** A new connection to the shared server, in `region` when given. */
  connect(region?: string): Promise<Transport>;
  /** Stops the server; connections the suite opened are closed before. */
  teardown(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const text = (data: Uint8Array) => decoder.decode(data);

let uniqueCounter = 0;
/** A subject token / bucket name no other test (or earlier run against the same server) uses. */
function unique(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${(uniqueCounter++).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Rejects when `promise` takes longer than `ms` of wall time; every wait in the suite is bounded. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const WAIT = 10_000;

/** Reads messages until `done(msg)` holds for one of them (included), within WAIT. */
async function readUntil(sub: AsyncIterable<Msg>, done: (msg: Msg) => boolean): Promise<Msg[]> {
  const out: Msg[] = [];
  const read = (async () => {
    for await (const msg of sub) {
      out.push(msg);
      if (done(msg)) return;
    }
    throw new Error(`subscription ended after ${out.length} messages`);
  })();
  await within(read, WAIT, `a message ending the read (got ${out.length})`);
  return out;
}

/** Reads exactly `n` items, within WAIT. */
async function take<T>(iterable: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  const iterator = iterable[Symbol.asyncIterator]();
  const read = (async () => {
    while (out.length < n) {
      const next = await iterator.next();
      if (next.done) throw new Error(`iteration ended after ${out.length} of ${n} items`);
      out.push(next.value);
    }
  })();
  await within(read, WAIT, `${n} items (got ${out.length})`);
  return out;
}

/** Reads until the iteration ends, within WAIT. */
async function readToEnd<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  const read = (async () => {
    for await (const item of iterable) out.push(item);
  })();
  await within(read, WAIT, `the end of an iteration (got ${out.length})`);
  return out;
}

/** Starts reading in the background; `items` fills as messages arrive; `ended` resolves at the end. */
function background<T>(iterable: AsyncIterable<T>): { items: T[]; ended: Promise<void> } {
  const items: T[] = [];
  const ended = (async () => {
    for await (const item of iterable) items.push(item);
  })();
  ended.catch(() => {});
  return { items, ended };
}

/** Waits (polling wall time, bounded) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > WAIT) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function expectCode(error: unknown, code: TransportErrorCode): void {
  expect(error).toBeInstanceOf(TransportError);
  expect((error as TransportError).code).toBe(code);
}

function expectThrows(fn: () => unknown, code: TransportErrorCode): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error(`expected a TransportError ${code}, nothing was thrown`);
  expectCode(thrown, code);
}

async function expectRejects(promise: Promise<unknown>, code: TransportErrorCode): Promise<void> {
  let thrown: unknown;
  try {
    await within(promise, WAIT, `a ${code} rejection`);
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error(`expected a TransportError ${code}, the call succeeded`);
  expectCode(thrown, code);
}

/** Deterministic pseudo-random bytes (xorshift), so a large blob is not all zeros. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, Math.floor(length / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < length; i++) out[i] = i & 0xff;
  return out;
}

/** Registers the shared conformance suite for one `Transport` implementation. */
export function describeConformance(
  name: string,
  setup: () => ConformanceHarness | Promise<ConformanceHarness>,
): void {
  describe(`Transport conformance: ${name}`, () => {
    let harness: ConformanceHarness;
    const opened: Transport[] = [];

    const connect = async (region?: string): Promise<Transport> => {
      const t = await harness.connect(region);
      opened.push(t);
      return t;
    };

    beforeAll(async () => {
      harness = await setup();
    });

    afterEach(async () => {
      const all = opened.splice(0);
      await Promise.all(all.map((t) => (t.isClosed ? undefined : t.close())));
    });

    afterAll(async () => {
      await harness?.teardown();
    });

    describe('publish and subscribe', () => {
      it('delivers payload, subject and headers to a subscriber on another connection', async () => {
        const [a, b] = [await connect(), await connect()];
        const subject = `${unique('ps')}.greet`;
        const sub = b.subscribe(subject);
        expect(sub.subject).toBe(subject);
        await b.flush();
        a.publish(subject, bytes('hello'), { headers: { 'x-trace': 'abc' } });
        a.publish(subject, new Uint8Array(0));
        await a.flush();
        const [first, second] = await take(sub, 2);
        expect(first!.subject).toBe(subject);
        expect(text(first!.data)).toBe('hello');
        expect(first!.headers?.['x-trace']).toBe('abc');
        expect(first!.reply).toBeUndefined();
        // Without a reply subject there is nobody to answer.
        expect(first!.respond(bytes('nobody'))).toBe(false);
        expect(second!.data.byteLength).toBe(0);
      });

      it('copies the payload at publish: later changes by the publisher do not reach receivers', async () => {
        const t = await connect();
        const subject = unique('copy');
        const sub = t.subscribe(subject);
        const payload = bytes('original');
        t.publish(subject, payload);
        payload.fill(0);
        const [msg] = await take(sub, 1);
        expect(text(msg!.data)).toBe('original');
      });

      it('gives every subscriber of a subject its own copy', async () => {
        const [a, b] = [await connect(), await connect()];
        const subject = unique('fan');
        const s1 = a.subscribe(subject);
        const s2 = b.subscribe(subject);
        await Promise.all([a.flush(), b.flush()]);
        a.publish(subject, bytes('shared'));
        const [m1] = await take(s1, 1);
        m1!.data.fill(0);
        const [m2] = await take(s2, 1);
        expect(text(m2!.data)).toBe('shared');
      });

      it('matches `*` to exactly one token and `>` to one or more trailing tokens', async () => {
        const [a, b] = [await connect(), await connect()];
        const p = unique('wc');
        const star = b.subscribe(`${p}.*`);
        const rest = b.subscribe(`${p}.>`);
        const middle = b.subscribe(`${p}.*.c`);
        await b.flush();
        for (const s of [`${p}.a`, `${p}.a.b`, `${p}.x.c`, p, `${p}.end`, `${p}.end.c`])
          a.publish(s, bytes(s));
        await a.flush();
        const got = async (sub: Subscription, last: string) =>
          (await readUntil(sub, (m) => m.subject === last)).map((m) => m.subject);
        expect(await got(star, `${p}.end`)).toEqual([`${p}.a`, `${p}.end`]);
        expect(await got(rest, `${p}.end.c`)).toEqual([
          `${p}.a`,
          `${p}.a.b`,
          `${p}.x.c`,
          `${p}.end`,
          `${p}.end.c`,
        ]);
        expect(await got(middle, `${p}.end.c`)).toEqual([`${p}.x.c`, `${p}.end.c`]);
      });

      it('keeps the order of one publisher per subscriber, with two publishers interleaved', async () => {
        const [a, b, c] = [await connect(), await connect(), await connect()];
        const subject = unique('order');
        const sub = c.subscribe(subject);
        await c.flush();
        const n = 300;
        for (let i = 0; i < n; i++) {
          a.publish(subject, bytes(`a${i}`));
          b.publish(subject, bytes(`b${i}`));
        }
        await Promise.all([a.flush(), b.flush()]);
        const got = (await take(sub, 2 * n)).map((m) => text(m.data));
        const fromA = got.filter((s) => s.startsWith('a'));
        const fromB = got.filter((s) => s.startsWith('b'));
        expect(fromA).toEqual(Array.from({ length: n }, (_, i) => `a${i}`));
        expect(fromB).toEqual(Array.from({ length: n }, (_, i) => `b${i}`));
      });

      it('connections carry the region they were opened for', async () => {
        const t = await connect('region-x');
        expect(t.region).toBe('region-x');
      });
    });

    describe('queue groups', () => {
      it('delivers each message to exactly one member, spread across members; plain subscribers get all', async () => {
        // One region: across regions (NATS gateways) members in the publisher's region are preferred.
        const region = 'region-x';
        const members = [await connect(region), await connect(region), await connect(region)];
        const watcher = await connect();
        const publisher = await connect(region);
        const subject = unique('queue');
        const readers = members.map((m) => background(m.subscribe(subject, { queue: 'workers' })));
        const all = watcher.subscribe(subject);
        await Promise.all([...members, watcher].map((t) => t.flush()));
        const n = 90;
        for (let i = 0; i < n; i++) publisher.publish(subject, bytes(String(i)));
        await publisher.flush();
        const everything = (await take(all, n)).map((m) => text(m.data));
        expect(everything).toEqual(Array.from({ length: n }, (_, i) => String(i)));
        await until(
          () => readers.reduce((s, r) => s + r.items.length, 0) >= n,
          `${n} queued messages arrive`,
        );
        // Give a wrongly duplicated delivery the chance to show up.
        await new Promise((r) => setTimeout(r, 50));
        const received = readers.flatMap((r) => r.items.map((m) => text(m.data)));
        expect(received).toHaveLength(n);
        expect(new Set(received).size).toBe(n);
        for (const r of readers) expect(r.items.length).toBeGreaterThan(0);
      });
    });

    describe('subscription lifetime', () => {
      it('unsubscribes automatically after `max` messages and ends the iteration', async () => {
        const t = await connect();
        const subject = unique('max');
        const sub = t.subscribe(subject, { max: 3 });
        for (let i = 0; i < 5; i++) t.publish(subject, bytes(String(i)));
        await t.flush();
        const got = await readToEnd(sub);
        expect(got.map((m) => text(m.data))).toEqual(['0', '1', '2']);
        await within(sub.closed, WAIT, 'sub.closed');
      });

      it('ends an idle iteration on unsubscribe before any message', async () => {
        const t = await connect();
        const sub = t.subscribe(unique('idle'));
        const reader = background(sub);
        await t.flush();
        sub.unsubscribe();
        await within(reader.ended, WAIT, 'the iteration to end');
        expect(reader.items).toEqual([]);
      });

      it('ends the iteration on unsubscribe and delivers nothing afterwards', async () => {
        const [a, b] = [await connect(), await connect()];
        const subject = unique('unsub');
        const sub = b.subscribe(subject);
        const reader = background(sub);
        await b.flush();
        a.publish(subject, bytes('before'));
        await a.flush();
        await until(() => reader.items.length === 1, 'the first message arrives');
        sub.unsubscribe();
        await within(reader.ended, WAIT, 'the iteration to end');
        await within(sub.closed, WAIT, 'sub.closed');
        a.publish(subject, bytes('after'));
        await a.flush();
        expect(reader.items.map((m) => text(m.data))).toEqual(['before']);
      });
    });

    describe('request and reply', () => {
      it('answers a request with data and headers from a responder on another connection', async () => {
        const [client, server] = [await connect(), await connect()];
        const subject = `${unique('rpc')}.echo`;
        const sub = server.subscribe(subject);
        (async () => {
          for await (const msg of sub) {
            const trace = msg.headers?.['x-trace'] ?? 'none';
            msg.respond(bytes(`echo:${text(msg.data)}`), {
              headers: { 'x-trace': trace, 'x-served': 'yes' },
            });
          }
        })();
        await server.flush();
        const reply = await client.request(subject, bytes('ping'), { headers: { 'x-trace': 't1' } });
        expect(text(reply.data)).toBe('echo:ping');
        expect(reply.headers?.['x-trace']).toBe('t1');
        expect(reply.headers?.['x-served']).toBe('yes');
        // Many concurrent requests each get their own answer.
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) => client.request(subject, bytes(String(i)))),
        );
        expect(answers.map((m) => text(m.data))).toEqual(Array.from({ length: 20 }, (_, i) => `echo:${i}`));
      });

      it('gets exactly one answer from a queue group of responders', async () => {
        const [client, s1, s2] = [await connect(), await connect(), await connect()];
        const subject = unique('qrpc');
        let served = 0;
        for (const [name, t] of [
          ['s1', s1],
          ['s2', s2],
        ] as const) {
          const sub = t.subscribe(subject, { queue: 'responders' });
          (async () => {
            for await (const msg of sub) {
              served++;
              msg.respond(bytes(name));
            }
          })();
          await t.flush();
        }
        const names = new Set<string>();
        for (let i = 0; i < 10; i++) names.add(text((await client.request(subject, bytes('?'))).data));
        expect(served).toBe(10);
        expect([...names].every((n) => n === 's1' || n === 's2')).toBe(true);
      });

      it('fails with TIMEOUT when the subscribers do not answer', async () => {
        const [client, server] = [await connect(), await connect()];
        const subject = unique('silent');
        server.subscribe(subject);
        await server.flush();
        await expectRejects(client.request(subject, bytes('?'), { timeoutMs: 200 }), 'TIMEOUT');
      });

      it('fails with NO_RESPONDERS at once, long before the timeout, when nobody subscribes', async () => {
        const client = await connect();
        const started = Date.now();
        await expectRejects(
          client.request(unique('nobody'), bytes('?'), { timeoutMs: 30_000 }),
          'NO_RESPONDERS',
        );
        expect(Date.now() - started).toBeLessThan(WAIT);
      });
    });

    describe('subjects', () => {
      it('refuses bad subjects with BAD_SUBJECT', async () => {
        const t = await connect();
        for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a\tb', 'a.*', 'a.>', '>', '*']) {
          expectThrows(() => t.publish(bad, bytes('x')), 'BAD_SUBJECT');
        }
        for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.>.b']) {
          expectThrows(() => t.subscribe(bad), 'BAD_SUBJECT');
        }
        await expectRejects(t.request('a.*', bytes('x')), 'BAD_SUBJECT');
        await expectRejects(t.request('a..b', bytes('x')), 'BAD_SUBJECT');
        // The connection stays usable.
        const subject = unique('fine');
        const sub = t.subscribe(subject);
        t.publish(subject, bytes('ok'));
        expect(text((await take(sub, 1))[0]!.data)).toBe('ok');
      });
    });

    describe('kv', () => {
      it('gets, puts and deletes with bucket-wide increasing revisions', async () => {
        const t = await connect();
        const kv = await t.kv(unique('kv'));
        expect(await kv.get('absent')).toBeNull();
        const r1 = await kv.put('a', bytes('1'));
        const r2 = await kv.put('a', bytes('2'));
        const r3 = await kv.put('b', bytes('3'));
        expect(r1).toBeGreaterThan(0);
        expect(r2).toBe(r1 + 1);
        expect(r3).toBe(r2 + 1);
        const a = await kv.get('a');
        expect(a).not.toBeNull();
        expect(text(a!.value)).toBe('2');
        expect(a!.revision).toBe(r2);
        expect(a!.key).toBe('a');
        expect(a!.bucket).toBe(kv.bucket);
        expect(a!.operation).toBe('PUT');
        await kv.delete('a');
        expect(await kv.get('a')).toBeNull();
        expect(await kv.keys()).toEqual(['b']);
        // A delete is an entry of its own: it takes a revision.
        const r5 = await kv.put('c', bytes('5'));
        expect(r5).toBe(r3 + 2);
      });

      it('shares a bucket between connections', async () => {
        const [a, b] = [await connect(), await connect()];
        const bucket = unique('kvshare');
        await (await a.kv(bucket)).put('k', bytes('from-a'));
        const entry = await (await b.kv(bucket)).get('k');
        expect(text(entry!.value)).toBe('from-a');
      });

      it('updates only from the expected revision, else WRONG_REVISION', async () => {
        const t = await connect();
        const kv = await t.kv(unique('kvupd'), { history: 5 });
        const r1 = await kv.update('state', bytes('v1'), 0);
        await expectRejects(kv.update('state', bytes('again'), 0), 'WRONG_REVISION');
        const r2 = await kv.update('state', bytes('v2'), r1);
        expect(r2).toBeGreaterThan(r1);
        await expectRejects(kv.update('state', bytes('stale'), r1), 'WRONG_REVISION');
        expect(text((await kv.get('state'))!.value)).toBe('v2');
        await kv.put('other', bytes('x'));
        // Another key's write does not change this key's revision.
        const r3 = await kv.update('state', bytes('v3'), r2);
        expect(text((await kv.get('state'))!.value)).toBe('v3');
        expect((await kv.get('state'))!.revision).toBe(r3);
      });

      it('lists keys, optionally filtered by a wildcard pattern', async () => {
        const t = await connect();
        const kv = await t.kv(unique('kvkeys'));
        for (const key of ['model.a', 'model.b', 'model.b.c', 'other.x']) await kv.put(key, bytes(key));
        expect((await kv.keys()).sort()).toEqual(['model.a', 'model.b', 'model.b.c', 'other.x']);
        expect((await kv.keys('model.*')).sort()).toEqual(['model.a', 'model.b']);
        expect((await kv.keys('model.>')).sort()).toEqual(['model.a', 'model.b', 'model.b.c']);
      });

      it('watches: the latest value of each key first, then live puts and deletes', async () => {
        const [a, b] = [await connect(), await connect()];
        const bucket = unique('kvwatch');
        const kv = await a.kv(bucket);
        const r1 = await kv.put('a', bytes('1'));
        const r2 = await kv.put('b', bytes('2'));
        const r3 = await kv.put('a', bytes('3'));
        const watch = await (await b.kv(bucket)).watch();
        const initial = await take(watch, 2);
        expect(initial.map((e) => [e.key, text(e.value), e.revision])).toEqual([
          ['b', '2', r2],
          ['a', '3', r3],
        ]);
        expect(r1).toBeLessThan(r2);
        const r4 = await kv.put('c', bytes('4'));
        await kv.delete('b');
        const live = await take(watch, 2);
        expect(live[0]).toMatchObject({ key: 'c', revision: r4, operation: 'PUT' });
        expect(text(live[0]!.value)).toBe('4');
        expect(live[1]).toMatchObject({ key: 'b', operation: 'DEL' });
        expect(live[1]!.revision).toBeGreaterThan(r4);
        watch.stop();
        await readToEnd(watch);
      });

      it('treats a deleted key as absent: not in a watch snapshot, recreated by update from 0', async () => {
        const t = await connect();
        const kv = await t.kv(unique('kvdel'));
        await kv.put('gone', bytes('x'));
        await kv.delete('gone');
        const r2 = await kv.put('kept', bytes('y'));
        const watch = await kv.watch();
        // The snapshot holds values; a key deleted before the watch started has none.
        const initial = await take(watch, 1);
        expect(initial.map((e) => [e.key, e.operation, e.revision])).toEqual([['kept', 'PUT', r2]]);
        const r3 = await kv.update('gone', bytes('again'), 0);
        expect(r3).toBe(r2 + 1);
        expect(text((await kv.get('gone'))!.value)).toBe('again');
        expect((await take(watch, 1))[0]).toMatchObject({ key: 'gone', operation: 'PUT', revision: r3 });
        watch.stop();
      });

      it('watches a wildcard key pattern, and only new updates without history', async () => {
        const t = await connect();
        const kv = await t.kv(unique('kvwild'));
        await kv.put('model.old', bytes('old'));
        const matching = await kv.watch({ key: 'model.*' });
        const fresh = await kv.watch({ key: 'model.*', includeHistory: false });
        await kv.put('other.x', bytes('no'));
        await kv.put('model.new', bytes('yes'));
        await kv.put('model.deep.x', bytes('no'));
        await kv.put('model.last', bytes('yes'));
        const seen = (await take(matching, 3)).map((e: KvEntry) => e.key);
        expect(seen).toEqual(['model.old', 'model.new', 'model.last']);
        const seenFresh = (await take(fresh, 2)).map((e: KvEntry) => e.key);
        expect(seenFresh).toEqual(['model.new', 'model.last']);
        matching.stop();
        fresh.stop();
      });
    });

    describe('blobs', () => {
      it('stores a 20 MiB blob with its size and sha256, lists and deletes blobs', async () => {
        const [a, b] = [await connect(), await connect()];
        const bucket = unique('blobs');
        const store = await a.blobs(bucket);
        const big = pseudoRandomBytes(20 * 1024 * 1024, 7);
        const sha256 = createHash('sha256').update(big).digest('hex');
        const info = await store.put('model.onnx', big);
        expect(info).toMatchObject({ bucket, name: 'model.onnx', size: big.byteLength, sha256 });
        await store.put('small.txt', bytes('tiny'));
        const other = await b.blobs(bucket);
        const back = await other.get('model.onnx');
        expect(back).not.toBeNull();
        expect(back!.byteLength).toBe(big.byteLength);
        expect(Buffer.compare(Buffer.from(back!), Buffer.from(big))).toBe(0);
        expect(await other.info('model.onnx')).toMatchObject({ size: big.byteLength, sha256 });
        expect((await other.list()).map((i) => i.name).sort()).toEqual(['model.onnx', 'small.txt']);
        expect(await other.get('missing')).toBeNull();
        expect(await other.info('missing')).toBeNull();
        expect(await other.delete('model.onnx')).toBe(true);
        expect(await store.get('model.onnx')).toBeNull();
        expect(await store.delete('model.onnx')).toBe(false);
        expect((await store.list()).map((i) => i.name)).toEqual(['small.txt']);
      });
    });

    describe('flush, drain and close', () => {
      it('flush resolves once what was published has been delivered to own subscriptions', async () => {
        const t = await connect();
        const subject = unique('flush');
        const sub = t.subscribe(subject);
        for (let i = 0; i < 100; i++) t.publish(subject, bytes(String(i)));
        await within(t.flush(), WAIT, 'flush');
        expect((await take(sub, 100)).map((m) => text(m.data))).toEqual(
          Array.from({ length: 100 }, (_, i) => String(i)),
        );
      });

      it('drain lets subscriptions hand out the messages they hold, then closes', async () => {
        const t = await connect();
        const subject = unique('drain');
        const sub = t.subscribe(subject);
        for (let i = 0; i < 20; i++) t.publish(subject, bytes(String(i)));
        const drained = t.drain();
        const got = await readToEnd(sub);
        await within(drained, WAIT, 'drain');
        expect(got.map((m) => text(m.data))).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
        expect(t.isClosed).toBe(true);
        expectThrows(() => t.publish(subject, bytes('late')), 'CLOSED');
      });

      it('close ends subscriptions, watches and status, and later calls fail with CLOSED', async () => {
        const t = await connect();
        const subject = unique('close');
        const sub = t.subscribe(subject);
        const reader = background(sub);
        const kv = await t.kv(unique('kvclose'));
        const watch = await kv.watch();
        const status = background(t.status());
        await t.flush();
        await t.close();
        expect(t.isClosed).toBe(true);
        await within(reader.ended, WAIT, 'the subscription to end');
        await within(sub.closed, WAIT, 'sub.closed');
        await readToEnd(watch);
        await within(status.ended, WAIT, 'status() to end');
        expectThrows(() => t.publish(subject, bytes('x')), 'CLOSED');
        expectThrows(() => t.subscribe(subject), 'CLOSED');
        await expectRejects(t.request(subject, bytes('x')), 'CLOSED');
        await expectRejects(t.flush(), 'CLOSED');
        await expectRejects(t.kv(unique('kvafter')), 'CLOSED');
        await expectRejects(t.blobs(unique('blobafter')), 'CLOSED');
        await expectRejects(kv.get('k'), 'CLOSED');
        await expectRejects(t.drain(), 'CLOSED');
        // Closing twice is harmless.
        await t.close();
      });

      it('a pending request fails with CLOSED when its connection closes', async () => {
        const [client, server] = [await connect(), await connect()];
        const subject = unique('pending');
        server.subscribe(subject);
        await server.flush();
        const pending = client.request(subject, bytes('?'), { timeoutMs: 30_000 });
        pending.catch(() => {});
        await client.flush();
        await client.close();
        await expectRejects(pending, 'CLOSED');
      });
    });
  });
}
