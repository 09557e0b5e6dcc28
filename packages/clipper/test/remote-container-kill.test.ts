// A container in its own process, killed with SIGKILL while it holds a batch: no goodbye, no reply.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Tensor, tensor } from '@geoml/core';
import { type NatsServer, NatsTransport, startNatsServer } from '@geoml/transport';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Clipper } from '../src/clipper.js';
import { RemoteContainers, type ReplicaEvent } from '../src/remote/remote-containers.js';
import { serveContainer } from '../src/remote/serve-container.js';

type Query = Record<string, Tensor>;
const ROOT = resolve(import.meta.dirname, '../../..');
const INPUTS = [{ name: 'x', dtype: 'float32' as const, shape: [2] }];

/** The child: serves the model, prints BATCH when a batch arrives, and never answers it. */
const CHILD = `
const { NatsTransport } = await import(${JSON.stringify(join(ROOT, 'packages/transport/src/index.ts'))});
const { serveContainer } = await import(${JSON.stringify(join(ROOT, 'packages/clipper/src/remote/serve-container.ts'))});
const transport = await NatsTransport.connect({ servers: process.argv[2], region: 'child' });
await serveContainer(transport, {
  model: 'victim', version: 1, replica: 'child',
  inputs: [{ name: 'x', dtype: 'float32', shape: [2] }], heartbeatMs: 100,
  predict: () => { process.stdout.write('BATCH\\n'); return new Promise(() => {}); },
});
process.stdout.write('READY\\n');
`;

function product(batch: Query, size: number): Query {
  const x = batch.x!.data as Float32Array;
  const y = new Float32Array(size);
  for (let q = 0; q < size; q++) y[q] = x[2 * q]! * x[2 * q + 1]!;
  return { y: tensor('float32', [size], y) };
}

function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Resolves when the child prints `line`. */
function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(`${line}\n`)) resolve();
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`child exited (${code ?? signal}) before ${line}`)),
    );
  });
}

let server: NatsServer;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), 'geoml-container-'));
}, 30_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('a container process killed -9 mid-batch: its queries are answered by the other replica, none hangs', async () => {
  const script = join(dir, 'child.mts');
  writeFileSync(script, CHILD);
  const child = spawn(
    process.execPath,
    ['--conditions=@geoml/source', '--import', 'tsx', script, server.url],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const front = await NatsTransport.connect({ servers: server.url, region: 'front' });
  const healthy = await NatsTransport.connect({ servers: server.url, region: 'healthy' });
  const remote = await new RemoteContainers(front, { missedHeartbeats: 5 }).start();
  const clipper = new Clipper();
  try {
    await within(20_000, printed(child, 'READY'), 'child container start');
    const batch = printed(child, 'BATCH');
    batch.catch(() => undefined); // observed below; a failure before then must not go unhandled
    await serveContainer(healthy, {
      model: 'victim',
      version: 1,
      replica: 'healthy',
      predict: product,
      inputs: INPUTS,
      heartbeatMs: 100,
    });
    const events: ReplicaEvent[] = [];
    remote.onChange((e) => events.push(e));
    await remote.waitFor('victim', 1, 2, 5000);
    clipper.registerApplication({
      name: 'app',
      inputType: 'tensor',
      latencySloMs: 3000,
      defaultOutput: null,
    });
    await remote.serve(clipper, 'victim', 1, { inputType: 'tensor', cache: false });
    clipper.linkModel('app', 'victim');

    const ids = Array.from({ length: 10 }, (_, i) => i);
    const pending = Promise.all(
      ids.map((i) => clipper.predict('app', { x: tensor('float32', [2], new Float32Array([i, 3])) })),
    );
    await within(3000, batch, 'a batch reaching the child');
    child.kill('SIGKILL');
    const results = await within(5000, pending, 'queries after the kill');
    results.forEach((r, i) => {
      expect(r.default, r.defaultExplanation).toBe(false);
      expect(r.latencyMs).toBeLessThanOrEqual(3000);
      expect((r.output as Query).y!.data[0]).toBe(i * 3);
    });
    expect(events.some((e) => e.type === 'dropped' && e.replica.replica === 'child')).toBe(true);
    expect(remote.replicas('victim', 1).map((r) => r.replica)).toEqual(['healthy']);
  } finally {
    child.kill('SIGKILL');
    await clipper.close();
    await remote.close();
    await healthy.close();
    await front.close();
  }
}, 60_000);
