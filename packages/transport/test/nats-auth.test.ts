import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { afterAll, describe, expect, it } from 'vitest';
import { type NatsServer, startNatsServer } from '../src/nats-server.js';
import { NatsTransport } from '../src/nats-transport.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** Connects, proves the connection works with a request/reply round trip, closes. */
async function roundTrip(options: Parameters<typeof NatsTransport.connect>[0]): Promise<string> {
  const t = await NatsTransport.connect(options);
  try {
    const sub = t.subscribe('auth.echo');
    void (async () => {
      for await (const m of sub) m.respond(m.data);
    })();
    await t.flush();
    const r = await t.request('auth.echo', bytes('hello'), { timeoutMs: 2000 });
    return new TextDecoder().decode(r.data);
  } finally {
    await t.close();
  }
}

const noRetry = { reconnect: false as const, connectTimeoutMs: 3000 };

describe('NatsTransport authentication', () => {
  const servers: NatsServer[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('user and password', async () => {
    const s = await startNatsServer({
      config: { authorization: { users: [{ user: 'alice', password: 's3cret' }] } },
    });
    servers.push(s);
    expect(await roundTrip({ servers: s.url, region: 'a', user: 'alice', pass: 's3cret' })).toBe('hello');
    await expect(
      NatsTransport.connect({ servers: s.url, region: 'a', user: 'alice', pass: 'wrong', ...noRetry }),
    ).rejects.toMatchObject({
      code: 'CONNECTION',
      message: expect.stringMatching(/authori[sz]ation/i),
    });
    await expect(NatsTransport.connect({ servers: s.url, region: 'a', ...noRetry })).rejects.toMatchObject({
      code: 'CONNECTION',
    });
  });

  it('token', async () => {
    const s = await startNatsServer({ config: { authorization: { token: 't0k3n-for-geoml' } } });
    servers.push(s);
    expect(await roundTrip({ servers: s.url, region: 'a', token: 't0k3n-for-geoml' })).toBe('hello');
    await expect(
      NatsTransport.connect({ servers: s.url, region: 'a', token: 'nope', ...noRetry }),
    ).rejects.toMatchObject({
      code: 'CONNECTION',
    });
  });

  it('nkey seed', async () => {
    const user = createUser();
    const other = createUser();
    const s = await startNatsServer({
      config: { authorization: { users: [{ nkey: user.getPublicKey() }] } },
    });
    servers.push(s);
    const seed = new TextDecoder().decode(user.getSeed());
    expect(await roundTrip({ servers: s.url, region: 'a', nkeySeed: seed })).toBe('hello');
    const otherSeed = new TextDecoder().decode(other.getSeed());
    await expect(
      NatsTransport.connect({ servers: s.url, region: 'a', nkeySeed: otherSeed, ...noRetry }),
    ).rejects.toMatchObject({
      code: 'CONNECTION',
    });
    await expect(
      NatsTransport.connect({ servers: s.url, region: 'a', nkeySeed: 'SUnot-a-seed' }),
    ).rejects.toThrow(/not a valid nkey seed/);
    await expect(NatsTransport.connect({ servers: s.url, region: 'a', nkeySeed: 'nope' })).rejects.toThrow(
      /nkeySeed/,
    );
  });

  it('TLS with a private CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geoml-tls-'));
    dirs.push(dir);
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    // A self-signed certificate for 127.0.0.1 acts as its own CA.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=geoml-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const s = await startNatsServer({ config: { tls: { cert_file: cert, key_file: key } } });
    servers.push(s);
    expect(
      await roundTrip({ servers: `tls://127.0.0.1:${s.port}`, region: 'a', tls: { caFile: cert } }),
    ).toBe('hello');
    // The system CAs do not trust it: refused, with the reason.
    await expect(
      NatsTransport.connect({ servers: s.url, region: 'a', tls: true, ...noRetry }),
    ).rejects.toMatchObject({ code: 'CONNECTION' });
  });
});
