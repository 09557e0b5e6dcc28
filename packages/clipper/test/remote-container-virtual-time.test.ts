import { type Tensor, tensor, VirtualClock } from '@geoml/core';
import {
  InProcessHub,
  InProcessTransport,
  type NatsServer,
  NatsTransport,
  startNatsServer,
  type Transport,
} from '@geoml/transport';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ContainerError } from '../src/errors.js';
import { RemoteContainers } from '../src/remote/remote-containers.js';
import { serveContainer } from '../src/remote/serve-container.js';

type Query = Record<string, Tensor>;
const INPUTS = [{ name: 'x', dtype: 'float32' as const, shape: [3] }];
const query = (i: number): Query => ({ x: tensor('float32', [3], new Float32Array([i, i + 1, 0.5])) });
const echo = (batch: Query): Query => ({ y: batch.x! });

const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
});

describe('remote containers in virtual time', () => {
  it('drops a container that stops heartbeating after missedHeartbeats periods of virtual time, not before', async () => {
    const clock = new VirtualClock();
    const hub = new InProcessHub({ clock });
    const front = new InProcessTransport({ hub, region: 'front' });
    const box = new InProcessTransport({ hub, region: 'box' });
    open.push(front, box);
    const remote = await new RemoteContainers(front, { clock, missedHeartbeats: 3 }).start();
    open.push(remote);
    const events: { type: string; at: number }[] = [];
    remote.onChange((e) => events.push({ type: e.type, at: clock.now() }));
    await serveContainer(box, {
      model: 'echo',
      version: 1,
      replica: 'r1',
      predict: echo,
      inputs: INPUTS,
      heartbeatMs: 1000,
      clock,
    });
    await clock.advance(0);
    expect(events).toEqual([{ type: 'added', at: 0 }]);

    // Heartbeats keep it for far longer than three periods.
    await clock.advance(20_000);
    const [seen] = remote.replicas('echo', 1);
    expect(seen?.lastSeen).toBe(20_000);
    expect(events).toHaveLength(1);

    await box.close(); // abrupt: no goodbye, and the heartbeats stop
    await clock.advance(3000);
    expect(remote.replicas('echo', 1)).toHaveLength(1);
    await clock.advance(1000);
    expect(remote.replicas('echo', 1)).toEqual([]);
    const dropped = events.filter((e) => e.type === 'dropped');
    expect(dropped).toHaveLength(1);
    // Silent for more than 3 periods, noticed at the next sweep (a quarter of min(period, 250 ms)).
    const silence = dropped[0]!.at - 20_000;
    expect(silence).toBeGreaterThan(3000);
    expect(silence).toBeLessThanOrEqual(3000 + 250 / 4);
  });
});

describe('remote containers over NATS in virtual time', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer();
  }, 30_000);

  afterAll(async () => {
    await server?.stop();
  });

  const connect = async (region: string): Promise<Transport> => {
    const t = await NatsTransport.connect({ servers: server.url, region });
    open.push(t);
    return t;
  };

  it("times a batch out after timeoutMs of the registry's clock, not of the transport's timer", async () => {
    const clock = new VirtualClock();
    let answer!: () => void;
    const held = new Promise<void>((resolve) => {
      answer = resolve;
    });
    await serveContainer(await connect('slow'), {
      model: 'slow',
      version: 1,
      // Answers only when the test lets it: the batch waits in the container.
      predict: async (batch) => {
        await held;
        return echo(batch);
      },
      inputs: INPUTS,
      // No heartbeat is due while the test moves time: the replica stays live throughout.
      heartbeatMs: 600_000,
      clock,
    });
    const remote = await new RemoteContainers(await connect('front'), { clock, timeoutMs: 5000 }).start();
    open.push(remote);
    for (let i = 0; i < 300 && remote.replicas('slow', 1).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(remote.replicas('slow', 1)).toHaveLength(1);

    let outcome: unknown;
    const pending = remote
      .predictor('slow', 1)
      .predict([query(1)])
      .then(
        (value) => {
          outcome = value;
        },
        (err: unknown) => {
          outcome = err;
        },
      );
    await clock.advance(4999);
    expect(outcome).toBeUndefined();
    // NATS's own timer is 5 s of real time away; the predictor's bound is on the virtual clock.
    await clock.advance(2);
    expect(outcome).toBeInstanceOf(ContainerError);
    expect(outcome).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('5000 ms') });
    await pending;
    answer();
  }, 30_000);
});
