/**
 * The HTTP side of the benchmark: starting a server child process (`server-process.ts`), a keep-alive
 * node:http client whose `send` posts one query and reports whether the model answered it, and a lean
 * raw-socket client for the throughput limit (see `rawSender`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Send } from './load.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const START_LIMIT_MS = 120_000;

export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Spawns `server-process.ts <kind> <model>` and waits for its port (bounded). `options.root` runs another
 * checkout's server (an A/B against older code; its packages resolve from that checkout), `nodeArgs` go
 * to node (e.g. `--cpu-prof`).
 */
export async function spawnServer(
  kind: 'naive' | 'geoml',
  model: string,
  options: { root?: string; nodeArgs?: readonly string[] } = {},
): Promise<ServerProcess> {
  const entry = options.root
    ? join(options.root, 'bench', 'clipper', 'server-process.ts')
    : join(HERE, 'server-process.ts');
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', '--conditions=@geoml/source', entry, kind, model],
    { stdio: ['pipe', 'pipe', 'inherit'], ...(options.root ? { cwd: options.root } : {}) },
  );
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start`)), START_LIMIT_MS);
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return {
    port,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.stdin!.end();
      }),
  };
}

/**
 * A sender posting `body` to `http://127.0.0.1:<port><path>` over keep-alive connections. A request counts
 * as served when the status is 200 and the answer is not a default output (geoml's `"default":true`).
 */
export function httpSender(
  port: number,
  path: string,
  body: string,
  maxSockets = 512,
): Send & { agent: Agent } {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const payload = Buffer.from(body);
  const headers = { 'content-type': 'application/json', 'content-length': payload.length };
  const send = () =>
    new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('latin1');
          resolve(res.statusCode === 200 && !text.includes('"default":true'));
        });
        res.on('error', () => resolve(false));
      });
      req.on('error', () => resolve(false));
      req.end(payload);
    });
  return Object.assign(send, { agent });
}

/**
 * A compact JSON payload for one 784-float query: pixel intensities as integers 0–255 (~2.8 KB rather
 * than ~15 KB for full float32 decimals), as an MNIST client would send.
 */
export function compactBody(data: Float32Array): string {
  return JSON.stringify({ input: Array.from(data, (v) => Math.round(v * 255)) });
}

/**
 * A closed-loop client on raw keep-alive sockets sending the same prebuilt HTTP/1.1 request: one request in
 * flight per socket (no pipelining), the answer read only as far as its status line and Content-Length.
 * It costs the client a few µs per request where node:http's client costs tens, so at the throughput limit
 * the CPU the benchmark measures is the server's, not the load generator's (perf_analyzer's role, in C++).
 * A request counts as served on status 200 without `"default":true` in the body.
 */
export function rawSender(port: number, requestBytes: Buffer): Send & { close(): void } {
  const idle: Conn[] = [];
  const all: Conn[] = [];
  const send = async () => {
    const conn = idle.pop() ?? openConn(port, all);
    const ok = await new Promise<boolean>((resolve) => {
      conn.waiting = resolve;
      conn.socket.write(requestBytes);
    });
    if (!conn.socket.destroyed) idle.push(conn);
    return ok;
  };
  return Object.assign(send, {
    close: () => {
      for (const c of all) c.socket.destroy();
    },
  });
}

interface Conn {
  socket: Socket;
  waiting?: (ok: boolean) => void;
  buf: Buffer;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const DEFAULT_MARK = Buffer.from('"default":true');

function openConn(port: number, all: Conn[]): Conn {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  const conn: Conn = { socket, buf: Buffer.alloc(0) };
  all.push(conn);
  const settle = (ok: boolean) => {
    const w = conn.waiting;
    conn.waiting = undefined;
    w?.(ok);
  };
  socket.on('data', (chunk: Buffer) => {
    conn.buf = conn.buf.length === 0 ? chunk : Buffer.concat([conn.buf, chunk]);
    const end = conn.buf.indexOf(HEADER_END);
    if (end < 0) return;
    const head = conn.buf.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const total = end + 4 + length;
    if (conn.buf.length < total) return;
    const body = conn.buf.subarray(end + 4, total);
    conn.buf = conn.buf.subarray(total);
    settle(head.startsWith('HTTP/1.1 200') && body.indexOf(DEFAULT_MARK) < 0);
  });
  socket.on('error', () => settle(false));
  socket.on('close', () => settle(false));
  return conn;
}

/** A complete HTTP/1.1 POST (headers and body) for `rawSender`. */
export function httpRequest(path: string, body: Buffer, headers: Record<string, string | number>): Buffer {
  const lines = [`POST ${path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: keep-alive'];
  for (const [k, v] of Object.entries({ ...headers, 'content-length': body.length }))
    lines.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/**
 * An Open Inference Protocol `infer` request for `rows` (each one query's float32 input) as one tensor of
 * shape [rows, ...item]: JSON `data` (pixel values as integers 0-255, as compact as `compactBody`) or the
 * binary tensor data extension (the same values as float32 bytes after the JSON header). The output comes
 * back in the same encoding.
 */
export function oipRequest(
  model: string,
  input: { name: string; shape: readonly number[] },
  rows: Float32Array[],
  encoding: 'json' | 'binary',
): { request: Buffer; bodyBytes: number } {
  const pixels = rows.map((r) => Float32Array.from(r, (v) => Math.round(v * 255)));
  const shape = [rows.length, ...input.shape];
  const path = `/v2/models/${model}/infer`;
  // The same 2 s deadline as app `bulk`'s objective (Triton's `timeout`, µs).
  const parameters = { timeout: 2_000_000 };
  if (encoding === 'json') {
    const data = pixels.flatMap((r) => Array.from(r));
    const body = Buffer.from(
      JSON.stringify({ inputs: [{ name: input.name, shape, datatype: 'FP32', data }], parameters }),
    );
    return {
      request: httpRequest(path, body, { 'content-type': 'application/json' }),
      bodyBytes: body.length,
    };
  }
  const tensor = new Float32Array(pixels.reduce((n, r) => n + r.length, 0));
  for (const [i, r] of pixels.entries()) tensor.set(r, i * r.length);
  const bytes = Buffer.from(tensor.buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: input.name, shape, datatype: 'FP32', parameters: { binary_data_size: bytes.length } }],
      parameters: { ...parameters, binary_data_output: true },
    }),
  );
  const body = Buffer.concat([header, bytes]);
  const request = httpRequest(path, body, {
    'content-type': 'application/octet-stream',
    'inference-header-content-length': header.length,
  });
  return { request, bodyBytes: body.length };
}

/** CPU seconds so far of each thread of process `pid` (Linux /proc; empty elsewhere), busiest first. */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks (100/s).
      out.set(tid, (Number(fields[11]) + Number(fields[12])) / 100);
    }
  } catch {
    // not Linux, or the process is gone: no per-thread figures
  }
  return out;
}
