/**
 * The HTTP side of the benchmark: starting a server child process (`server-process.ts`) and a keep-alive
 * node:http client whose `send` posts one query and reports whether the model answered it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Send } from './load.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const START_LIMIT_MS = 120_000;

export interface ServerProcess {
  readonly port: number;
  stop(): Promise<void>;
}

/** Spawns `server-process.ts <kind> <model>` and waits for its port (bounded). */
export async function spawnServer(kind: 'naive' | 'geoml', model: string): Promise<ServerProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@geoml/source', join(HERE, 'server-process.ts'), kind, model],
    { stdio: ['pipe', 'pipe', 'inherit'] },
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
