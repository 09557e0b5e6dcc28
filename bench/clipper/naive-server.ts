/**
 * The baseline a user writes without geoml: node:http, parse the JSON body, call onnxruntime's
 * `session.run` for that one request on the main thread, answer. No batching, no worker, no deadline: each
 * run blocks the event loop, so requests wait in the socket buffers meanwhile. Same request shape as
 * geoml's Clipper REST frontend (`POST /<app>/predict` with `{"input": [...]}`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadOrt } from '@geoml/core';

export interface NaiveServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startNaiveServer(
  model: Uint8Array,
  inputShape: readonly number[],
  names = { input: 'input', output: 'output' },
): Promise<NaiveServer> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: number[] };
          const x = new ort.Tensor('float32', Float32Array.from(body.input), [1, ...inputShape]);
          const out = await session.run({ [names.input]: x });
          const text = JSON.stringify({ output: Array.from(out[names.output]!.data as Float32Array) });
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
          });
          res.end(text);
        } catch (err) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: (err as Error).message }));
        }
      })();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        void session.release();
      }),
  };
}
