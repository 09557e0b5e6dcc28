import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '@geoml/core';
import { z } from 'zod';
import type { Clipper } from '../clipper.js';
import { ADMIN_GETTERS, ADMIN_ROUTES } from './admin-api.js';
import { restPredict, restPredictRaw, restUpdate } from './clipper-rest.js';
import { HttpError, toHttpError } from './http-error.js';
import { HEADER_LENGTH, splitInferBody } from './oip-binary.js';
import { type OipReply, openInference } from './open-inference.js';
import type { PrometheusMetrics } from './prometheus-metrics.js';

export const httpFrontendSchema = z.strictObject({
  /** 0 picks a free port. */
  port: z.int().min(0).max(65535).default(0),
  host: z.string().default('127.0.0.1'),
  /** Larger request bodies are refused with 413 before they are read whole. */
  maxBodyBytes: z
    .int()
    .min(1024)
    .max(1 << 30)
    .default(16 << 20),
  /** Serve the management API under `/admin/`. */
  admin: z.boolean().default(true),
});
export type HttpFrontendOptions = z.input<typeof httpFrontendSchema>;

/**
 * One HTTP server for every frontend of a `Clipper`: Clipper's REST API (`POST /<app>/predict`,
 * `POST /<app>/update`), the Open Inference Protocol v2 (`/v2/...`), the management API (`/admin/...`) and
 * Prometheus `GET /metrics`. Every refusal is a 4xx JSON `{ "error": "..." }` naming the problem; a failing
 * request never stops the server.
 */
export class HttpFrontend {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(
    clipper: Clipper,
    options: HttpFrontendOptions & { metrics?: PrometheusMetrics } = {},
  ): Promise<HttpFrontend> {
    const { metrics, ...rest } = options;
    const config = parseConfig(httpFrontendSchema, rest, 'http frontend options');
    const server = createServer((req, res) => {
      handle(clipper, config, metrics, req, res).catch((err) => send(res, toHttpError(err)));
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new HttpFrontend(server, `http://${config.host}:${port}`);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting connections and closes idle ones; requests in flight finish. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}

type Config = z.output<typeof httpFrontendSchema>;

async function handle(
  clipper: Clipper,
  config: Config,
  metrics: PrometheusMetrics | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  const url = parseUrl(req.url ?? '/');
  const parts = url.pathname.split('/').filter((p) => p.length > 0);

  if (url.pathname === '/metrics' && method === 'GET') {
    if (!metrics) throw new HttpError(404, 'metrics are not enabled on this server');
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(await metrics.registry.metrics());
    return;
  }
  if (parts[0] === 'v2') {
    const reply = await openInference(clipper, method, parts.slice(1), async () =>
      splitInferBody(await readBytes(req, config.maxBodyBytes), req.headers[HEADER_LENGTH]),
    );
    if (!reply) throw new HttpError(notFoundOrMethod(method), `no route ${method} ${url.pathname}`);
    return reply.binary ? sendBinary(res, reply) : send(res, reply.status, reply.body);
  }
  if (parts[0] === 'admin' && config.admin && parts.length === 2) {
    const route = ADMIN_ROUTES[parts[1]!];
    if (!route) throw new HttpError(404, `no admin route ${parts[1]}`);
    if (method === 'GET' && ADMIN_GETTERS.has(parts[1]!)) {
      return send(res, 200, await route(clipper, Object.fromEntries(url.searchParams)));
    }
    if (method !== 'POST') throw new HttpError(405, `use POST for /admin/${parts[1]}`);
    const b = await readJson(req, config.maxBodyBytes);
    if (!b || typeof b !== 'object' || Array.isArray(b))
      throw new HttpError(400, 'body must be a JSON object');
    return send(res, 200, await route(clipper, b as Record<string, unknown>));
  }
  if (parts.length === 2 && (parts[1] === 'predict' || parts[1] === 'update')) {
    if (method !== 'POST') throw new HttpError(405, `use POST for /${parts[0]}/${parts[1]}`);
    const app = decodeURIComponent(parts[0]!);
    clipper.getApplication(app); // 404 before reading the body
    if (parts[1] === 'predict' && isOctetStream(req)) {
      return send(res, 200, await restPredictRaw(clipper, app, await readBytes(req, config.maxBodyBytes)));
    }
    const b = await readJson(req, config.maxBodyBytes);
    return send(
      res,
      200,
      parts[1] === 'predict' ? await restPredict(clipper, app, b) : await restUpdate(clipper, app, b),
    );
  }
  throw new HttpError(404, `no route ${method} ${url.pathname}`);
}

/**
 * A path of plain segments (letters, digits, `_`, `-`) and no query reads the same through WHATWG URL, so
 * the common request skips the parser (a few µs each); anything else (`%`, `.`, `?`, `//`) goes through it.
 */
const PLAIN_PATH = /^\/(?!\/)[\w\-/]*$/;
const NO_QUERY = new URLSearchParams();

function parseUrl(raw: string): { pathname: string; searchParams: URLSearchParams } {
  return PLAIN_PATH.test(raw) ? { pathname: raw, searchParams: NO_QUERY } : new URL(raw, 'http://localhost');
}

const isOctetStream = (req: IncomingMessage) =>
  (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'application/octet-stream';

const notFoundOrMethod = (method: string) => (method === 'GET' || method === 'POST' ? 404 : 405);

function send(res: ServerResponse, status: number | HttpError, body?: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (status instanceof HttpError) {
    send(res, status.status, { error: status.message });
    return;
  }
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The binary tensor data extension's layout: the JSON header, then the binary outputs in order. */
function sendBinary(res: ServerResponse, reply: OipReply): void {
  const text = JSON.stringify(reply.body);
  const jsonLength = Buffer.byteLength(text);
  let length = jsonLength;
  for (const p of reply.binary ?? []) length += p.byteLength;
  // One buffer, so the answer leaves in a single write after the head.
  const out = Buffer.allocUnsafe(length);
  out.write(text, 0, 'utf8');
  let offset = jsonLength;
  for (const p of reply.binary ?? []) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  res.writeHead(reply.status, [
    'content-type',
    'application/octet-stream',
    HEADER_LENGTH,
    String(jsonLength),
    'content-length',
    String(length),
  ]);
  res.end(out);
}

/**
 * Reads a body whole, refusing one over `limit` bytes (413). Plain listeners rather than `for await`: the
 * async iterator costs several µs per request, a large share of a one-row inference.
 */
function readBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(
      new HttpError(413, `body of ${declared} bytes is over the limit of ${limit} bytes`),
    );
  }
  // Anonymous listeners and a settled flag rather than named closures removed at the end: cheaper per request.
  return new Promise((resolve, reject) => {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        req.resume();
        reject(new HttpError(413, `body is over the limit of ${limit} bytes`));
      } else if (first === undefined) {
        first = chunk;
      } else {
        more ??= [first];
        more.push(chunk);
      }
    });
    // One chunk (the common case for small bodies) is used as it is: binary tensors then view it directly.
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(more ? Buffer.concat(more) : (first ?? Buffer.alloc(0)));
    });
    req.on('error', (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
    req.on('close', () => {
      if (settled) return;
      settled = true;
      reject(new Error('the request was closed before its body ended'));
    });
  });
}

/** Reads a JSON body, refusing one over `limit` bytes (413) or one that does not parse (400). */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const text = (await readBytes(req, limit)).toString('utf8');
  if (text.trim().length === 0) throw new HttpError(400, 'body is empty; expected JSON');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `malformed JSON: ${(err as Error).message}`);
  }
}
