/**
 * Spawns a real nats-server for tests and local runs: a temp config with random loopback ports (the
 * server writes the ports it bound to a ports file), JetStream state in a temp dir, and a clear error
 * with the server's own last words when it fails to start. Never touches 127.0.0.1:4222.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TransportError } from './errors.js';
import { formatNatsConf, mergeNatsConf, type NatsConf } from './nats-conf.js';

export interface NatsServerOptions {
  /** Enable JetStream (KV and blobs need it), stored in a temp dir. Default false. */
  jetstream?: boolean;
  /** Client port; default a random free port. */
  port?: number;
  /** Extra configuration laid over the generated one (e.g. `authorization`, `max_payload`). */
  config?: NatsConf;
  /** `server_name`; default `geoml-<random>`. */
  serverName?: string;
  /** The nats-server executable; default `$NATS_SERVER_BIN` or `nats-server` on PATH. */
  binary?: string;
  /** How long to wait for the server to accept connections. Default 15000 ms. */
  startTimeoutMs?: number;
}

/** A running (or stopped, restartable) nats-server process on 127.0.0.1. */
export interface NatsServer {
  readonly name: string;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` of the monitoring endpoints (`/varz`, `/jsz`, `/gatewayz`, ...). */
  readonly monitorUrl: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Temp dir with the config, the ports file and the JetStream store; removed by `close()`. */
  readonly dir: string | undefined;
  /** The last few KiB the server logged. */
  logTail(): string;
  /** Stops the process gracefully (SIGTERM); state is kept so `restart()` resumes it. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) and, for a terminating signal, waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same ports with the same JetStream state (stopping it first if running). */
  restart(): Promise<void>;
  /** Stops the server and deletes its temp dir. Idempotent. */
  close(): Promise<void>;
}

const TAIL_BYTES = 4096;
const live = new Set<NatsServerProcess>();
let exitHookInstalled = false;

/** Last-resort cleanup so an aborted test run leaves no server or temp dir behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const server of live) server.killAndRemoveSync();
  });
}

/** A free TCP port on 127.0.0.1, for ports that must be known before any server starts (routes, gateways). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts one nats-server and resolves once it accepts TCP connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const server = new NatsServerProcess(options, options.config ?? {});
  await server.start();
  return server;
}

/** Internal: one server process. `conf` carries everything except ports, dirs and JetStream. */
export class NatsServerProcess implements NatsServer {
  readonly name: string;
  dir: string | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private tail = '';
  private clientPort: number;
  private monitorPort = -1;
  private closed = false;

  constructor(
    private readonly options: NatsServerOptions,
    private readonly conf: NatsConf,
  ) {
    this.name = options.serverName ?? `geoml-${Math.random().toString(36).slice(2, 10)}`;
    this.clientPort = options.port ?? -1;
  }

  get port(): number {
    return this.clientPort;
  }
  get url(): string {
    return `nats://127.0.0.1:${this.clientPort}`;
  }
  get monitorUrl(): string {
    return `http://127.0.0.1:${this.monitorPort}`;
  }
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
  logTail(): string {
    return this.tail;
  }

  async start(): Promise<void> {
    if (this.closed) throw new TransportError('CLOSED', `nats-server ${this.name} was closed`);
    installExitHook();
    live.add(this);
    this.dir ??= await mkdtemp(join(tmpdir(), 'geoml-nats-'));
    const dir = this.dir;
    let conf: NatsConf = {
      server_name: this.name,
      host: '127.0.0.1',
      port: this.clientPort,
      http: `127.0.0.1:${this.monitorPort}`,
      ports_file_dir: dir,
    };
    if (this.options.jetstream) conf.jetstream = { store_dir: join(dir, 'js') };
    conf = mergeNatsConf(conf, this.conf);
    const confPath = join(dir, 'server.conf');
    await writeFile(confPath, `${formatNatsConf(conf)}\n`);

    const binary = this.options.binary ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
    const child = spawn(binary, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.tail = '';
    const keep = (chunk: Buffer) => {
      this.tail = (this.tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let spawnError: Error | undefined;
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
      child.once('exit', () => resolve());
    });

    const deadline = Date.now() + (this.options.startTimeoutMs ?? 15_000);
    const portsFile = join(dir, `nats-server_${child.pid}.ports`);
    for (;;) {
      if (spawnError || !this.running) {
        await this.exited;
        const why = spawnError
          ? `cannot run '${binary}' (${spawnError.message}); install nats-server or set NATS_SERVER_BIN`
          : `exited with ${child.exitCode ?? child.signalCode} before accepting connections`;
        throw new TransportError('SERVER', `nats-server ${this.name} ${why}\n${this.tail.trim()}`, {
          cause: spawnError,
        });
      }
      const ports = await readPorts(portsFile);
      if (ports && (await acceptsTcp(ports.client))) {
        this.clientPort = ports.client;
        if (ports.monitor !== undefined) this.monitorPort = ports.monitor;
        return;
      }
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new TransportError(
          'SERVER',
          `nats-server ${this.name} did not accept connections within ${this.options.startTimeoutMs ?? 15_000} ms\n${this.tail.trim()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const child = this.child;
    child?.kill('SIGTERM');
    const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child?.kill(signal);
    if (['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT'].includes(signal)) await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop();
    live.delete(this);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  /** For the exit hook only: synchronous, best effort. */
  killAndRemoveSync(): void {
    if (this.running) this.child?.kill('SIGKILL');
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function readPorts(file: string): Promise<{ client: number; monitor?: number } | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as { nats?: string[]; monitoring?: string[] };
    const client = portOf(parsed.nats?.[0]);
    if (client === undefined) return null;
    return { client, monitor: portOf(parsed.monitoring?.[0]) };
  } catch {
    return null; // written but not complete yet
  }
}

function portOf(url: string | undefined): number | undefined {
  if (!url) return undefined;
  const port = Number(new URL(url).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** Polls a monitoring endpoint until `ready(json)` holds; fails with `what` and the last reply. */
export async function waitForMonitor(
  server: NatsServer,
  path: string,
  ready: (json: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const res = await fetch(`${server.monitorUrl}${path}`);
      last = await res.text();
      if (ready(JSON.parse(last) as Record<string, unknown>)) return;
    } catch (err) {
      last = String(err);
    }
    if (!server.running) {
      throw new TransportError(
        'SERVER',
        `nats-server ${server.name} exited while waiting for ${what}\n${server.logTail().trim()}`,
      );
    }
    if (Date.now() > deadline) {
      throw new TransportError(
        'SERVER',
        `nats-server ${server.name}: ${what} not reached within ${timeoutMs} ms; last ${path}: ${last.slice(0, 500)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
