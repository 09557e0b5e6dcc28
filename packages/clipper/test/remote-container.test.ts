import { type Tensor, tensor } from '@geoml/core';
import { type NatsServer, NatsTransport, startNatsServer, type Transport } from '@geoml/transport';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { RemoteContainers, type ReplicaEvent } from '../src/remote/remote-containers.js';
import { RemotePredictor } from '../src/remote/remote-predictor.js';
import { type ContainerHandle, serveContainer } from '../src/remote/serve-container.js';

type Query = Record<string, Tensor>;
const INPUTS = [{ name: 'x', dtype: 'float32' as const, shape: [3] }];

/** The model every container serves: y = [x0 + x1 + x2, 2 * x0] per query, on the stacked batch. */
function sumModel(batch: Query, size: number): Query {
  const x = batch.x!.data as Float32Array;
  const y = new Float32Array(size * 2);
  for (let q = 0; q < size; q++) {
    y[2 * q] = x[3 * q]! + x[3 * q + 1]! + x[3 * q + 2]!;
    y[2 * q + 1] = 2 * x[3 * q]!;
  }
  return { y: tensor('float32', [size, 2], y) };
}

function query(i: number): Query {
  return { x: tensor('float32', [3], new Float32Array([i, i + 1, 0.5])) };
}

function expected(i: number): number[] {
  return [i + (i + 1) + 0.5, 2 * i];
}

/** Rejects after `ms`: every wait in these tests is bounded. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

async function until(what: string, ms: number, test: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let server: NatsServer;
const open: { close(): Promise<void> }[] = [];

async function connect(region: string): Promise<Transport> {
  const t = await NatsTransport.connect({ servers: server.url, region });
  open.push(t);
  return t;
}

async function clipperWith(remote: RemoteContainers, model: string, sloMs: number) {
  const clipper = new Clipper();
  open.push(clipper);
  clipper.registerApplication({ name: 'app', inputType: 'tensor', latencySloMs: sloMs, defaultOutput: null });
  const stop = await remote.serve(clipper, model, 1, { inputType: 'tensor', cache: false });
  clipper.linkModel('app', model);
  return { clipper, stop };
}

function replicasOf(clipper: Clipper, model: string): number {
  return clipper.getModel(model).versions[0]!.replicas.length;
}

beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
});

afterAll(async () => {
  await server?.stop();
});

describe('remote containers over NATS', () => {
  it('serves a model from two serveContainer replicas, both answering, and follows replicas added and removed', async () => {
    const front = await connect('front');
    const remote = await new RemoteContainers(front, { missedHeartbeats: 5 }).start();
    open.push(remote);
    const containers: ContainerHandle[] = [];
    for (const name of ['a', 'b']) {
      containers.push(
        await serveContainer(await connect(name), {
          model: 'sum',
          version: 1,
          replica: name,
          predict: sumModel,
          inputs: INPUTS,
          heartbeatMs: 100,
        }),
      );
    }
    const { clipper } = await clipperWith(remote, 'sum', 5000);
    await remote.waitFor('sum', 1, 2, 5000);
    await until('clipper follows 2 containers', 5000, () => replicasOf(clipper, 'sum') === 2);

    for (let round = 0; round < 6; round++) {
      const ids = [0, 1, 2, 3].map((k) => round * 4 + k);
      const results = await within(
        5000,
        Promise.all(ids.map((i) => clipper.predict('app', query(i)))),
        'round',
      );
      results.forEach((r, k) => {
        expect(r.default).toBe(false);
        expect([...((r.output as Query).y!.data as Float32Array)]).toEqual(expected(ids[k]!));
      });
    }
    expect(containers[0]!.answered).toBeGreaterThan(0);
    expect(containers[1]!.answered).toBeGreaterThan(0);

    // A third replica joins while serving; Clipper scales to 3. One leaves (goodbye): back to 2.
    const c = await serveContainer(await connect('c'), {
      model: 'sum',
      version: 1,
      replica: 'c',
      predict: sumModel,
      inputs: INPUTS,
      heartbeatMs: 100,
    });
    await until('clipper scales to 3', 5000, () => replicasOf(clipper, 'sum') === 3);
    await containers[0]!.close();
    await until('clipper scales back to 2', 5000, () => replicasOf(clipper, 'sum') === 2);
    expect(
      remote
        .replicas('sum', 1)
        .map((r) => r.replica)
        .sort(),
    ).toEqual(['b', 'c']);
    const after = await within(
      5000,
      Promise.all([7, 8, 9].map((i) => clipper.predict('app', query(i)))),
      'after',
    );
    after.forEach((r, k) => {
      expect([...((r.output as Query).y!.data as Float32Array)]).toEqual(expected(7 + k));
    });
    await c.close();
  }, 30_000);

  it('a container killed mid-batch: its queries are answered by the other replica before their deadline', async () => {
    const front = await connect('front');
    const remote = await new RemoteContainers(front, { missedHeartbeats: 5 }).start();
    open.push(remote);
    const events: ReplicaEvent[] = [];
    remote.onChange((e) => events.push(e));
    let started!: () => void;
    const doomedStarted = new Promise<void>((r) => {
      started = r;
    });
    const doomedTransport = await connect('doomed');
    await serveContainer(doomedTransport, {
      model: 'kill',
      version: 1,
      replica: 'doomed',
      // Never answers: the batch is in the container when it dies.
      predict: () => {
        started();
        return new Promise<Query>(() => undefined);
      },
      inputs: INPUTS,
      heartbeatMs: 100,
    });
    await serveContainer(await connect('healthy'), {
      model: 'kill',
      version: 1,
      replica: 'healthy',
      predict: sumModel,
      inputs: INPUTS,
      heartbeatMs: 100,
    });
    await remote.waitFor('kill', 1, 2, 5000);
    const { clipper } = await clipperWith(remote, 'kill', 3000);
    await until('2 replicas', 5000, () => replicasOf(clipper, 'kill') === 2);

    const ids = Array.from({ length: 8 }, (_, i) => i);
    const pending = Promise.all(ids.map((i) => clipper.predict('app', query(i))));
    await within(3000, doomedStarted, 'a batch reaching the doomed container');
    await doomedTransport.close(); // abrupt: no goodbye, no reply, heartbeats stop
    const results = await within(5000, pending, 'queries of the killed container');
    results.forEach((r, k) => {
      expect(r.default, r.defaultExplanation).toBe(false);
      expect(r.latencyMs).toBeLessThanOrEqual(3000);
      expect([...((r.output as Query).y!.data as Float32Array)]).toEqual(expected(ids[k]!));
    });
    expect(events.some((e) => e.type === 'dropped' && e.replica.replica === 'doomed')).toBe(true);
    await until('clipper scales to 1', 5000, () => replicasOf(clipper, 'kill') === 1);
  }, 30_000);

  it('drops a container that stops heartbeating after the missed heartbeats, not before', async () => {
    const front = await connect('front');
    const remote = await new RemoteContainers(front, { missedHeartbeats: 3 }).start();
    open.push(remote);
    const events: ReplicaEvent[] = [];
    remote.onChange((e) => events.push(e));
    // Registers once with a 100 ms period, then stays connected but silent (a hung process).
    const silent = await connect('silent');
    silent.publish(
      'geoml.containers.register',
      new TextEncoder().encode(
        JSON.stringify({
          protocol: 1,
          model: 'mute',
          version: '1',
          replica: 'r1',
          inputs: INPUTS,
          heartbeatMs: 100,
        }),
      ),
    );
    await silent.flush();
    await until('registered', 3000, () => remote.replicas('mute', 1).length === 1);
    const registeredAt = Date.now();
    await until('dropped', 3000, () => events.some((e) => e.type === 'dropped'));
    const after = Date.now() - registeredAt;
    expect(after).toBeGreaterThanOrEqual(250);
    expect(remote.replicas('mute')).toEqual([]);
    // With no replica, a query fails fast as CRASHED (no responders), never hangs.
    const predictor = remote.predictor('none', 1);
    await expect(within(3000, predictor.predict([query(1)]), 'no responders')).rejects.toMatchObject({
      code: 'CRASHED',
    });
  }, 30_000);

  it('maps container errors: bad input to BAD_INPUT, a failing model to BAD_OUTPUT, silence to TIMEOUT', async () => {
    const front = await connect('front');
    await serveContainer(await connect('err'), {
      model: 'err',
      version: 1,
      predict: () => {
        throw new Error('weights on fire');
      },
      inputs: INPUTS,
      heartbeatMs: 100,
    });
    await serveContainer(await connect('slow'), {
      model: 'slow',
      version: 1,
      predict: () => new Promise<Query>(() => undefined),
      inputs: INPUTS,
      heartbeatMs: 100,
    });
    const bad = new RemotePredictor(front, { model: 'err', version: '1' });
    await expect(bad.predict([{ x: tensor('float32', [4], new Float32Array(4)) }])).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringContaining("input 'x'"),
    });
    await expect(bad.predict([query(1)])).rejects.toMatchObject({
      code: 'BAD_OUTPUT',
      message: expect.stringContaining('weights on fire'),
    });
    const slow = new RemotePredictor(front, { model: 'slow', version: '1', timeoutMs: 200 });
    await expect(within(3000, slow.predict([query(1)]), 'timeout')).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
  }, 30_000);

  it("respects the server's max_payload: a batch too large is BAD_INPUT (rerun alone), a reply too large BAD_OUTPUT", async () => {
    const small = await startNatsServer({ config: { max_payload: 8192 } });
    const transports: Transport[] = [];
    try {
      const link = async (region: string) => {
        const t = await NatsTransport.connect({ servers: small.url, region });
        transports.push(t);
        return t;
      };
      const wide = [{ name: 'x', dtype: 'float32' as const, shape: [500] }];
      await serveContainer(await link('echo'), {
        model: 'echo',
        version: 1,
        // Answers 4 floats per input float: a reply 4x the request.
        predict: (batch, size) => ({
          y: tensor('float32', [size, 2000], new Float32Array(size * 2000)),
          n: tensor('int32', [size], new Int32Array(size).fill(batch.x!.shape[1]!)),
        }),
        inputs: wide,
        heartbeatMs: 100,
      });
      const front = await link('front');
      const predictor = new RemotePredictor(front, { model: 'echo', version: '1', timeoutMs: 2000 });
      const q = () => ({ x: tensor('float32', [500], new Float32Array(500)) });
      await expect(predictor.predict([q(), q(), q(), q(), q()])).rejects.toMatchObject({
        code: 'BAD_INPUT',
        message: expect.stringContaining('max_payload'),
      });
      await expect(within(3000, predictor.predict([q()]), 'big reply')).rejects.toMatchObject({
        code: 'BAD_OUTPUT',
        message: expect.stringContaining('cannot send the reply'),
      });
    } finally {
      for (const t of transports) await t.close().catch(() => undefined);
      await small.stop();
    }
  }, 30_000);
});
