// A container written from docs/container-protocol.md alone, on the raw NATS client: no serveContainer,
// and the reply bytes laid out by hand per §4.3 (the core codec only decodes the request, as the doc allows).
import { decodeTensorMap, encodeTensorMap, type Tensor, tensor } from '@geoml/core';
import { type NatsServer, NatsTransport, startNatsServer } from '@geoml/transport';
import { connect, type Msg, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { RemoteContainers } from '../src/remote/remote-containers.js';
import { RemotePredictor } from '../src/remote/remote-predictor.js';

type Query = Record<string, Tensor>;

/** CRC-32 as §4.3 defines it (zlib's). */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface DenseEntry {
  name: string;
  dtypeCode: number;
  shape: number[];
  bytes: Uint8Array;
}

const pad8 = (n: number) => Math.ceil(n / 8) * 8;

/** A tensor map of dense raw tensors, byte by byte as §4.3 lays it out. */
function encodeByHand(entries: DenseEntry[]): Uint8Array {
  const names = entries.map((e) => new TextEncoder().encode(e.name));
  const records = entries.reduce((sum, e, i) => sum + 16 + 4 * e.shape.length + names[i]!.length, 0);
  const directory = pad8(records);
  const total = 24 + directory + entries.reduce((sum, e) => sum + pad8(e.bytes.length), 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set([0x47, 0x4d, 0x4c, 0x54], 0);
  view.setUint16(4, 1, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, entries.length, true);
  view.setUint32(12, directory, true);
  view.setUint32(16, total, true);
  let at = 24;
  let data = 24 + directory;
  entries.forEach((e, i) => {
    out[at] = 0;
    out[at + 1] = e.dtypeCode;
    out[at + 2] = 0;
    out[at + 3] = e.shape.length;
    view.setUint16(at + 4, names[i]!.length, true);
    view.setUint32(
      at + 8,
      e.shape.reduce((a, b) => a * b, 1),
      true,
    );
    view.setFloat32(at + 12, 0, true);
    at += 16;
    for (const d of e.shape) {
      view.setUint32(at, d, true);
      at += 4;
    }
    out.set(names[i]!, at);
    at += names[i]!.length;
    out.set(e.bytes, data);
    data += pad8(e.bytes.length);
  });
  const covered = new Uint8Array(20 + directory);
  covered.set(out.subarray(0, 20), 0);
  covered.set(out.subarray(24, 24 + directory), 20);
  view.setUint32(20, crc32(covered), true);
  return out;
}

const utf8 = new TextEncoder();
const json = (v: unknown) => utf8.encode(JSON.stringify(v));

/**
 * The model: for x (float32 [3] per query) answers `double` = 2x (float32 [3]) and `total` = round(sum x)
 * (int32 scalar per query, so shape [n]).
 */
function startRawContainer(nc: NatsConnection, replica: string, heartbeatMs: number) {
  const model = 'raw';
  const version = '1';
  const registration = {
    protocol: 1,
    model,
    version,
    replica,
    inputs: [{ name: 'x', dtype: 'float32', shape: [3] }],
    heartbeatMs,
  };
  let answered = 0;
  const fail = (m: Msg, id: string, code: string, message: string) => {
    const h = natsHeaders();
    h.set('geoml-error', code);
    h.set('geoml-error-message', message);
    h.set('geoml-request-id', id);
    h.set('geoml-replica', replica);
    m.respond(new Uint8Array(0), { headers: h });
  };
  const onRequest = (err: Error | null, m: Msg) => {
    if (err) return;
    const id = m.headers?.get('geoml-request-id') ?? '';
    if (m.headers?.get('geoml-protocol') !== '1') return fail(m, id, 'VERSION_MISMATCH', 'protocol 1 only');
    const n = Number(m.headers?.get('geoml-batch-size'));
    let x: Tensor;
    try {
      const map = decodeTensorMap(m.data);
      x = map.get('x') as Tensor;
      if (map.size !== 1 || !x) return fail(m, id, 'BAD_INPUT', "the only input is 'x'");
    } catch (e) {
      return fail(m, id, 'BAD_REQUEST', (e as Error).message);
    }
    if (x.dtype !== 'float32' || x.shape.length !== 2 || x.shape[0] !== n || x.shape[1] !== 3) {
      return fail(m, id, 'BAD_INPUT', `input 'x' must be float32 [${n}, 3], got ${x.dtype} [${x.shape}]`);
    }
    const xs = x.data as Float32Array;
    const double = new Float32Array(n * 3);
    const total = new Int32Array(n);
    for (let q = 0; q < n; q++) {
      let s = 0;
      for (let j = 0; j < 3; j++) {
        double[3 * q + j] = 2 * xs[3 * q + j]!;
        s += xs[3 * q + j]!;
      }
      total[q] = Math.round(s);
    }
    const body = encodeByHand([
      { name: 'double', dtypeCode: 0, shape: [n, 3], bytes: new Uint8Array(double.buffer) },
      { name: 'total', dtypeCode: 2, shape: [n], bytes: new Uint8Array(total.buffer) },
    ]);
    const h = natsHeaders();
    h.set('geoml-batch-size', String(n));
    h.set('geoml-request-id', id);
    h.set('geoml-replica', replica);
    m.respond(body, { headers: h });
    answered++;
  };
  nc.subscribe(`geoml.containers.${model}.${version}.predict`, {
    queue: `geoml.containers.${model}.${version}`,
    callback: onRequest,
  });
  nc.subscribe(`geoml.containers.${model}.${version}.${replica}.predict`, { callback: onRequest });
  nc.subscribe('geoml.containers.discover', {
    callback: () => nc.publish('geoml.containers.register', json(registration)),
  });
  let seq = 0;
  const timer = setInterval(() => {
    if (!nc.isClosed()) nc.publish('geoml.containers.heartbeat', json({ ...registration, seq: ++seq }));
  }, heartbeatMs);
  return {
    async register() {
      await nc.flush();
      nc.publish('geoml.containers.register', json(registration));
      await nc.flush();
    },
    stop() {
      clearInterval(timer);
    },
    get answered() {
      return answered;
    },
  };
}

function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);

afterAll(async () => {
  await server?.stop();
});

describe('a container written from the protocol document on raw NATS', () => {
  it('lays out the document example byte for byte, as the core codec does', () => {
    const hand = encodeByHand([
      {
        name: 'y',
        dtypeCode: 0,
        shape: [2, 2],
        bytes: new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer),
      },
    ]);
    const hex = (b: Uint8Array) => [...b].map((v) => v.toString(16).padStart(2, '0')).join(' ');
    expect(hand.length).toBe(72);
    expect(hex(hand.subarray(0, 20))).toBe('47 4d 4c 54 01 00 00 00 01 00 00 00 20 00 00 00 48 00 00 00');
    expect(hex(hand.subarray(24, 56))).toBe(
      `00 00 00 02 01 00 00 00 04 00 00 00 00 00 00 00 02 00 00 00 02 00 00 00 79${' 00'.repeat(7)}`,
    );
    expect(hex(hand.subarray(56))).toBe('00 00 80 3f 00 00 00 40 00 00 40 40 00 00 80 40');
    const codec = encodeTensorMap(
      new Map([['y', tensor('float32', [2, 2], new Float32Array([1, 2, 3, 4]))]]),
    );
    expect(hex(hand)).toBe(hex(codec));
  });

  it('is served by Clipper: registered, answering batches with two outputs, reporting bad input', async () => {
    const nc = await connect({ servers: server.url });
    const front = await NatsTransport.connect({ servers: server.url, region: 'front' });
    const remote = await new RemoteContainers(front, { missedHeartbeats: 5 }).start();
    const clipper = new Clipper();
    const container = startRawContainer(nc, 'raw-1', 100);
    try {
      await container.register();
      clipper.registerApplication({
        name: 'app',
        inputType: 'tensor',
        latencySloMs: 3000,
        defaultOutput: null,
      });
      await remote.serve(clipper, 'raw', 1, { inputType: 'tensor', cache: false, waitMs: 5000 });
      clipper.linkModel('app', 'raw');
      expect(remote.replicas('raw', 1).map((r) => r.inputs)).toEqual([
        [{ name: 'x', dtype: 'float32', shape: [3] }],
      ]);

      const xs = [
        [1, 2, 3],
        [-1.5, 0.25, 4],
        [10, 20, 30.4],
        [0, 0, 0],
        [7, -7, 0.5],
      ];
      const results = await within(
        5000,
        Promise.all(
          xs.map((x) => clipper.predict('app', { x: tensor('float32', [3], new Float32Array(x)) })),
        ),
        'predictions',
      );
      results.forEach((r, i) => {
        expect(r.default, r.defaultExplanation).toBe(false);
        const out = r.output as Query;
        expect([...(out.double!.data as Float32Array)]).toEqual(
          xs[i]!.map((v) => Math.fround(2 * Math.fround(v))),
        );
        expect(out.total!.shape).toEqual([]);
        expect(out.total!.dtype).toBe('int32');
        expect(out.total!.data[0]).toBe(Math.round(xs[i]!.reduce((a, b) => a + Math.fround(b), 0)));
      });
      expect(container.answered).toBeGreaterThan(0);

      // The container's own BAD_INPUT reply (sent through the queue group, with no client-side signature).
      const direct = new RemotePredictor(front, { model: 'raw', version: '1', timeoutMs: 2000 });
      await expect(
        direct.predict([{ x: tensor('float32', [4], new Float32Array(4)) }]),
      ).rejects.toMatchObject({
        code: 'BAD_INPUT',
        message: expect.stringContaining("input 'x' must be float32"),
      });

      // Heartbeats stop while the connection stays up: the registry drops it within a few periods.
      container.stop();
      const start = Date.now();
      while (remote.replicas('raw', 1).length > 0 && Date.now() - start < 3000) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(remote.replicas('raw', 1)).toEqual([]);
    } finally {
      container.stop();
      await clipper.close();
      await remote.close();
      await front.close();
      await nc.close();
    }
  }, 30_000);
});
