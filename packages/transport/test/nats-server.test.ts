import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsCluster, startNatsCluster } from '../src/nats-cluster.js';
import { startNatsServer } from '../src/nats-server.js';
import { NatsTransport } from '../src/nats-transport.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('startNatsServer', () => {
  it('starts on a random loopback port and cleans its temp dir on close', async () => {
    const [s1, s2] = await Promise.all([startNatsServer(), startNatsServer({ jetstream: true })]);
    expect(s1.port).not.toBe(s2.port);
    expect(s1.url).toBe(`nats://127.0.0.1:${s1.port}`);
    expect(s1.running).toBe(true);
    const varz = (await (await fetch(`${s2.monitorUrl}/varz`)).json()) as {
      port: number;
      jetstream?: object;
    };
    expect(varz.port).toBe(s2.port);
    const dir = s2.dir;
    expect(dir && existsSync(dir)).toBe(true);
    await s1.close();
    await s2.close();
    expect(s1.running).toBe(false);
    expect(dir && existsSync(dir)).toBe(false);
  });

  it('fails fast with the server log when the config is bad', async () => {
    await expect(startNatsServer({ config: { no_such_option: true } })).rejects.toMatchObject({
      code: 'SERVER',
      message: expect.stringMatching(/exited with 1[\s\S]*unknown field "no_such_option"/),
    });
  });

  it('fails fast, with the reason, when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      await expect(startNatsServer({ port })).rejects.toThrow(/address already in use/);
    } finally {
      blocker.close();
    }
  });

  it('leaves no server or temp dir behind when the process exits without close()', async () => {
    const helper = fileURLToPath(new URL('../src/nats-server.ts', import.meta.url));
    const script = `const m = await import(${JSON.stringify(helper)}); const s = await m.startNatsServer({ jetstream: true }); console.log(JSON.stringify({ pid: s.pid, dir: s.dir })); process.exit(0);`;
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--conditions=@geoml/source', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 30_000 },
    );
    const { pid, dir } = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { pid: number; dir: string };
    expect(pid).toBeGreaterThan(0);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('says what to install when the binary is missing', async () => {
    await expect(startNatsServer({ binary: 'nats-server-that-does-not-exist' })).rejects.toThrow(
      /install nats-server or set NATS_SERVER_BIN/,
    );
  });

  it('kill reports the process gone and restart brings it back on the same port', async () => {
    const s = await startNatsServer();
    try {
      const port = s.port;
      await s.kill();
      expect(s.running).toBe(false);
      await s.restart();
      expect(s.port).toBe(port);
      const t = await NatsTransport.connect({ servers: s.url, region: 'x' });
      await t.flush();
      await t.close();
    } finally {
      await s.close();
    }
  });
});

describe('startNatsCluster', () => {
  let c: NatsCluster;
  beforeAll(async () => {
    c = await startNatsCluster(3, { jetstream: true, name: 'lan' });
  });
  afterAll(async () => c?.close());

  it('routes messages and JetStream between members', async () => {
    expect(c.servers.map((s) => s.name)).toEqual(['lan-0', 'lan-1', 'lan-2']);
    const a = await NatsTransport.connect({ servers: c.servers[0]?.url ?? '', region: 'lan' });
    const b = await NatsTransport.connect({ servers: c.servers[2]?.url ?? '', region: 'lan' });
    try {
      const sub = b.subscribe('routed');
      await b.flush();
      // Route interest propagates asynchronously; retry the publish until it crosses (bounded).
      const it = sub[Symbol.asyncIterator]();
      const got = it.next();
      for (let i = 0; i < 50; i++) {
        a.publish('routed', bytes('hi'));
        const r = await Promise.race([got, new Promise((r) => setTimeout(() => r(null), 100))]);
        if (r) break;
      }
      expect(new TextDecoder().decode(((await got).value as { data: Uint8Array }).data)).toBe('hi');
      const kvA = await a.kv('shared');
      await kvA.put('k', bytes('v'));
      const e = await (await b.kv('shared')).get('k');
      expect(e && new TextDecoder().decode(e.value)).toBe('v');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
