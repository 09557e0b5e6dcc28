/**
 * geoml's HTTP frontend against the naive server (node:http + `session.run` per request on the main
 * thread), each in its own child process, loaded the same way by this process: closed loop over
 * keep-alive connections, the same compact JSON body on `POST /bench/predict`, concurrencies interleaved.
 * Then geoml's throughput limit over the Open Inference Protocol, JSON against binary tensors, one row per
 * request and several (`binaryLimit`).
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { buildOnnxModel, type OnnxModelName, sampleInput } from '../../test/fixtures/onnx-models.js';
import { QUICK } from '../lib/results.js';
import { SLO_MS } from './deploy.js';
import {
  compactBody,
  httpSender,
  oipRequest,
  rawSender,
  type ServerProcess,
  spawnServer,
  threadCpuSeconds,
} from './http-load.js';
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
  /** The limit over OIP `infer` on model `bulk`, JSON vs binary tensors, by rows per request. */
  oip: OipPoint[];
  /** Whether the OIP runs pinned the onnx worker apart (`--pin`). */
  oipPinned: boolean;
}

/**
 * Rows per request of the OIP limit runs: 1 (strict, one query per request) and as many 784-float rows
 * as make E1's 64 KB and 256 KB binary payloads (20 × 3 136 B, 84 × 3 136 B), as perf_analyzer's `-b N`.
 */
/** `--pin`: see `pinWorkerApart` (Linux, needs `taskset`). */
const PIN = process.argv.includes('--pin');

const OIP = QUICK
  ? { rows: [1, 20], itemsInFlight: 512, reps: 1 }
  : { rows: [1, 20, 84], itemsInFlight: 512, reps: 2 };

export interface OipPoint extends LoadStats {
  encoding: 'json' | 'binary';
  rows: number;
  bodyBytes: number;
  concurrency: number;
  /** Model answers (rows) per second: served requests × rows. */
  itemsPerSecond: number;
  /**
   * CPU cores used over the run (warm-up included): the server's main thread (HTTP and Clipper), its
   * busiest other thread (the onnx worker), its remaining threads together (V8's GC helpers, libuv) and
   * this client process; and the server main thread's CPU per model answer (µs), which, unlike
   * throughput, a busy box inflates little.
   */
  cores: { serverMain: number; serverWorker: number; serverOther: number; client: number };
  mainCpuUsPerItem: number;
  /**
   * From the server's Prometheus series over the run: the share of wall time model `bulk`'s replica had a
   * batch out (sent to its outputs back; below 1, the replica waited on the main thread) and the mean
   * rows per batch.
   */
  replicaBusy: number;
  meanBatch: number;
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
  let oip: OipPoint[] = [];
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
    oip = await oipLimit(servers.geoml, modelName, opts);
    const best = (rows: (r: number) => boolean) =>
      Math.max(...oip.filter((p) => p.encoding === 'binary' && rows(p.rows)).map((p) => p.itemsPerSecond));
    tick(
      `HTTP ${modelName} limit ${servedLimit.throughput.toFixed(0)} q/s JSON; binary ` +
        `${best((r) => r === 1).toFixed(0)} single, ${best((r) => r > 1).toFixed(0)} batched items/s`,
    );
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
    oip,
    oipPinned: PIN,
  };
}

/**
 * geoml's throughput limit on app/model `bulk` (2 s objective, AIMD up to 256) over OIP `infer`: for each
 * rows-per-request and encoding, a closed loop keeping `itemsInFlight` rows outstanding (two full batches,
 * so one can fill while the other runs), from the lean raw-socket client; encodings alternate within a
 * repetition; median of the repetitions by items/s.
 */
export async function oipLimit(
  server: ServerProcess,
  modelName: OnnxModelName,
  opts: { reps: number; warmupMs: number; durationMs: number },
): Promise<OipPoint[]> {
  const model = buildOnnxModel(modelName);
  const input = { name: model.inputName, shape: model.inputShape };
  const points: OipPoint[] = [];
  const unpin = PIN
    ? await pinWorkerApart(server, oipRequest('bulk', input, [sampleInput(model, 1)], 'binary'))
    : undefined;
  try {
    for (const rows of OIP.rows) await oipRows(rows);
  } finally {
    unpin?.();
  }
  return points;

  async function oipRows(rows: number): Promise<void> {
    const data = Array.from({ length: rows }, (_, i) => sampleInput(model, 100 + i));
    const runs: Record<'json' | 'binary', OipPoint[]> = { json: [], binary: [] };
    for (let rep = 0; rep < OIP.reps; rep++) {
      for (const encoding of rep % 2 === 0 ? (['binary', 'json'] as const) : (['json', 'binary'] as const)) {
        const { request, bodyBytes } = oipRequest('bulk', input, data, encoding);
        runs[encoding].push(await oipRun(server, request, { encoding, rows, bodyBytes }, opts));
      }
    }
    for (const encoding of ['binary', 'json'] as const) {
      const sorted = [...runs[encoding]].sort((a, b) => a.itemsPerSecond - b.itemsPerSecond);
      points.push(sorted[(sorted.length - 1) >> 1]!);
    }
  }
}

/**
 * One closed-loop run of a prebuilt OIP request keeping `OIP.itemsInFlight` rows outstanding, with the CPU
 * each side used (from `/proc`): the measurement behind every `OipPoint`.
 */
export async function oipRun(
  server: ServerProcess,
  request: Buffer,
  what: { encoding: 'json' | 'binary'; rows: number; bodyBytes: number },
  opts: { warmupMs: number; durationMs: number },
): Promise<OipPoint> {
  const { rows } = what;
  const concurrency = Math.ceil(OIP.itemsInFlight / rows);
  const send = rawSender(server.port, request);
  const batches0 = await batchTotals(server.port);
  const cpu0 = threadCpuSeconds(server.pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  const stats = await closedLoop(send, {
    concurrency,
    // At least 1 s: the OIP path's first thousands of requests run before V8 has optimised it.
    warmupMs: Math.max(opts.warmupMs, 1000),
    durationMs: opts.durationMs,
    sloMs: 2000,
    maxRequests: 200_000,
  });
  const wall = (performance.now() - t0) / 1000;
  const client = process.cpuUsage(client0);
  const cpu1 = threadCpuSeconds(server.pid);
  send.close();
  const batches1 = await batchTotals(server.port);
  const batchCount = batches1.count - batches0.count;
  const used = (tid: string) => (cpu1.get(tid) ?? 0) - (cpu0.get(tid) ?? 0);
  const main = used(String(server.pid));
  const others = [...cpu1.keys()].filter((t) => t !== String(server.pid)).map(used);
  const worker = Math.max(0, ...others);
  const other = others.reduce((a, b) => a + b, 0) - worker;
  const answered = stats.completed * rows * (wall / stats.seconds);
  return {
    ...stats,
    ...what,
    concurrency,
    itemsPerSecond: stats.throughput * rows,
    cores: {
      serverMain: +(main / wall).toFixed(2),
      serverWorker: +(worker / wall).toFixed(2),
      serverOther: +(other / wall).toFixed(2),
      client: +((client.user + client.system) / 1e6 / wall).toFixed(2),
    },
    mainCpuUsPerItem: answered > 0 ? Math.round((main * 1e6) / answered) : Number.NaN,
    replicaBusy: +((batches1.seconds - batches0.seconds) / wall).toFixed(3),
    meanBatch: batchCount > 0 ? +((batches1.rows - batches0.rows) / batchCount).toFixed(1) : 0,
  };
}

/** Model `bulk`'s batch totals so far, from the server's `GET /metrics`: batches, rows, seconds busy. */
async function batchTotals(port: number): Promise<{ count: number; rows: number; seconds: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (series: string) =>
    Number(new RegExp(`^${series}\\{[^}]*model="bulk"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    count: value('geoml_batch_size_count'),
    rows: value('geoml_batch_size_sum'),
    seconds: value('geoml_batch_latency_seconds_sum'),
  };
}

/**
 * With `--pin`: the `bulk` model's onnx worker thread alone on CPU 1 (as raw onnxruntime had one core in
 * E0), the server's main thread and this client on CPU 0. The worker is the server's busiest thread other
 * than the main one during a 1 s warm-up. Returns the undo for this process; the server is stopped after.
 */
async function pinWorkerApart(server: ServerProcess, warm: { request: Buffer }): Promise<() => void> {
  const send = rawSender(server.port, warm.request);
  const cpu0 = threadCpuSeconds(server.pid);
  await closedLoop(send, { concurrency: 256, warmupMs: 0, durationMs: 1000, sloMs: 2000 });
  send.close();
  const cpu1 = threadCpuSeconds(server.pid);
  const main = String(server.pid);
  const worker = [...cpu1.keys()]
    .filter((t) => t !== main)
    .sort((a, b) => cpu1.get(b)! - (cpu0.get(b) ?? 0) - (cpu1.get(a)! - (cpu0.get(a) ?? 0)))[0];
  const taskset = (cpus: string, tid: string | number) =>
    execFileSync('taskset', ['-pc', cpus, String(tid)], { stdio: 'ignore' });
  const all = `0-${cpus().length - 1}`;
  if (worker) taskset('1', worker);
  taskset('0', main);
  taskset('0', process.pid);
  return () => taskset(all, process.pid);
}

/**
 * The binary OIP limits of one model, items/s: `single` one row per request (the strict figure: every
 * query travels alone and the server batches them), `batched` the best over several rows per request (as
 * perf_analyzer's `-b N`); with the rows per request that gave it.
 */
export function oipLimits(h: HttpResult): { single: number; batched: number; batchedRows: number } {
  const binary = h.oip.filter((p) => p.encoding === 'binary');
  const single = binary.find((p) => p.rows === 1)?.itemsPerSecond ?? 0;
  const best = binary.filter((p) => p.rows > 1).sort((a, b) => b.itemsPerSecond - a.itemsPerSecond)[0];
  return { single, batched: best?.itemsPerSecond ?? 0, batchedRows: best?.rows ?? 0 };
}
