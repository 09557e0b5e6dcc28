/**
 * geoml's HTTP frontend against the naive server (node:http + `session.run` per request on the main
 * thread), each in its own child process, loaded the same way by this process: closed loop over
 * keep-alive connections, the same compact JSON body on `POST /bench/predict`, concurrencies interleaved.
 */
import { buildOnnxModel, type OnnxModelName, sampleInput } from '../../test/fixtures/onnx-models.js';
import { SLO_MS } from './deploy.js';
import { compactBody, httpSender, spawnServer } from './http-load.js';
import { closedLoop, type LoadStats } from './load.js';

export interface HttpPoint extends LoadStats {
  server: 'naive' | 'geoml';
  concurrency: number;
}

export interface HttpResult {
  model: OnnxModelName;
  bodyBytes: number;
  points: HttpPoint[];
  /** Highest goodput (answers within the 20 ms SLO per second) over the concurrencies. */
  goodput: { naive: number; geoml: number };
  /** Highest served throughput (model answers per second) over the concurrencies. */
  served: { naive: number; geoml: number };
  /**
   * geoml's throughput limit over HTTP: app `bulk` (same model, 2 s objective, AIMD up to 256) at
   * `limitConcurrency` outstanding requests; median of `reps` runs.
   */
  servedLimit: LoadStats & { concurrency: number };
}

export async function httpComparison(
  modelName: OnnxModelName,
  opts: {
    concurrency: number[];
    limitConcurrency: number;
    reps: number;
    warmupMs: number;
    durationMs: number;
  },
  tick: (note: string) => void,
): Promise<HttpResult> {
  const model = buildOnnxModel(modelName);
  const body = compactBody(sampleInput(model, 1));
  const servers = {
    naive: await spawnServer('naive', modelName),
    geoml: await spawnServer('geoml', modelName),
  };
  const points: HttpPoint[] = [];
  let servedLimit: HttpResult['servedLimit'];
  try {
    for (const concurrency of opts.concurrency) {
      const runs: Record<'naive' | 'geoml', LoadStats[]> = { naive: [], geoml: [] };
      for (let rep = 0; rep < opts.reps; rep++) {
        for (const server of rep % 2 === 0 ? (['naive', 'geoml'] as const) : (['geoml', 'naive'] as const)) {
          const send = httpSender(servers[server].port, '/bench/predict', body);
          runs[server].push(
            await closedLoop(send, {
              concurrency,
              warmupMs: opts.warmupMs,
              durationMs: opts.durationMs,
              sloMs: SLO_MS,
              maxRequests: 200_000,
            }),
          );
          send.agent.destroy();
        }
      }
      for (const server of ['naive', 'geoml'] as const) {
        const sorted = [...runs[server]].sort((a, b) => a.goodput - b.goodput);
        points.push({ server, concurrency, ...sorted[(sorted.length - 1) >> 1]! });
      }
      tick(`HTTP ${modelName} c=${concurrency}`);
    }
    const bulk: LoadStats[] = [];
    for (let rep = 0; rep < opts.reps; rep++) {
      const send = httpSender(servers.geoml.port, '/bulk/predict', body);
      bulk.push(
        await closedLoop(send, {
          concurrency: opts.limitConcurrency,
          warmupMs: opts.warmupMs,
          durationMs: opts.durationMs,
          sloMs: 2000,
          maxRequests: 200_000,
        }),
      );
      send.agent.destroy();
    }
    bulk.sort((a, b) => a.throughput - b.throughput);
    servedLimit = { ...bulk[(bulk.length - 1) >> 1]!, concurrency: opts.limitConcurrency };
    tick(`HTTP ${modelName} limit ${servedLimit.throughput.toFixed(0)} q/s`);
  } finally {
    await Promise.all([servers.naive.stop(), servers.geoml.stop()]);
  }
  const best = (server: 'naive' | 'geoml', key: 'goodput' | 'throughput') =>
    Math.max(...points.filter((p) => p.server === server).map((p) => p[key]));
  return {
    model: modelName,
    bodyBytes: Buffer.byteLength(body),
    points,
    goodput: { naive: best('naive', 'goodput'), geoml: best('geoml', 'goodput') },
    served: { naive: best('naive', 'throughput'), geoml: best('geoml', 'throughput') },
    servedLimit: servedLimit!,
  };
}
