/**
 * Transport benchmark: throughput of 1 MiB tensor-map messages (core `encodeTensorMap`) and latency of small
 * request/reply, over geoml's `NatsTransport` against a spawned nats-server and over the in-process hub, each
 * beside raw `@nats-io/transport-node` sending the same bytes through the same server in the same run.
 * Sides are interleaved (the order rotates every repetition); figures are medians over repetitions.
 * Goal (issue 3): `natsVsRaw` (geoml NATS throughput / raw nats.js throughput) >= 0.7.
 */
import { decodeTensorMap, encodeTensorMap, type UpdateMap } from '@geoml/core';
import { InProcessHub, NatsTransport, startNatsServer, type Transport } from '@geoml/transport';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Progress } from './lib/progress.js';
import { QUICK, writeResult, writeSvg } from './lib/results.js';
import { barChart } from './lib/svg.js';
import { median } from './lib/timing.js';

const REPS = QUICK ? 3 : 15;
const MESSAGES = QUICK ? 8 : 32; // per throughput trial: 32 MiB, below the server's 64 MB slow-consumer limit
const REQUESTS = QUICK ? 50 : 300; // per latency trial
const TRIAL_LIMIT_MS = 60_000;

// One float32 tensor of 256 x 1024: 1 MiB of parameters, encoded with the codec's header.
const data = new Float32Array(256 * 1024);
for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.01;
const map: UpdateMap = new Map([['dense/kernel', { dtype: 'float32', shape: [256, 1024], data }]]);
const payload = encodeTensorMap(map);
const small = new Uint8Array(64).fill(1);

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${TRIAL_LIMIT_MS} ms`)), TRIAL_LIMIT_MS);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

let subjectSeq = 0;

/** What a trial needs of a connection; geoml transports and raw nats.js connections both fit, through one closure each. */
interface Endpoint {
  publish(subject: string, data: Uint8Array): void;
  subscribe(
    subject: string,
    max?: number,
  ): AsyncIterable<{ data: Uint8Array; respond(data: Uint8Array): unknown }>;
  request(subject: string, data: Uint8Array): Promise<unknown>;
  flush(): Promise<void>;
}

const ofTransport = (t: Transport): Endpoint => ({
  publish: (subject, data) => t.publish(subject, data),
  subscribe: (subject, max) => t.subscribe(subject, { max }),
  request: (subject, data) => t.request(subject, data, { timeoutMs: 5000 }),
  flush: () => t.flush(),
});

const ofRaw = (nc: NatsConnection): Endpoint => ({
  publish: (subject, data) => nc.publish(subject, data),
  subscribe: (subject, max) => nc.subscribe(subject, { max }),
  request: (subject, data) => nc.request(subject, data, { timeout: 5000 }),
  flush: () => nc.flush(),
});

/** Ms to publish MESSAGES payloads on `pub` and receive them all on `sub` (optionally encoding/decoding each). */
async function throughputTrial(pub: Endpoint, sub: Endpoint, codec: boolean): Promise<number> {
  const subject = `bench.tp.${subjectSeq++}`;
  const s = sub.subscribe(subject, MESSAGES);
  await sub.flush();
  const t0 = performance.now();
  const received = (async () => {
    let bytes = 0;
    for await (const m of s) {
      if (codec) decodeTensorMap(m.data);
      bytes += m.data.length;
    }
    return bytes;
  })();
  for (let i = 0; i < MESSAGES; i++) pub.publish(subject, codec ? encodeTensorMap(map) : payload);
  await pub.flush();
  const bytes = await bounded(received, 'throughput trial');
  if (bytes !== MESSAGES * payload.length) throw new Error(`trial received ${bytes} bytes`);
  return performance.now() - t0;
}

/** Per-request milliseconds of REQUESTS sequential small requests. */
async function latencyTrial(client: Endpoint, subject: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    await client.request(subject, small);
    out.push(performance.now() - t0);
  }
  return out;
}

function echo(e: Endpoint, subject: string): void {
  const s = e.subscribe(subject);
  void (async () => {
    for await (const m of s) m.respond(m.data);
  })();
}

const pct = (values: number[], p: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};

async function main(): Promise<void> {
  // max_payload raised: a 1 MiB tensor map plus its header exceeds the 1 MB default.
  const server = await startNatsServer({ config: { max_payload: 8 * 1024 * 1024 } });
  const geoml = [
    await NatsTransport.connect({ servers: server.url, region: 'bench' }),
    await NatsTransport.connect({ servers: server.url, region: 'bench' }),
  ];
  const raw = [await connect({ servers: server.url }), await connect({ servers: server.url })];
  const hub = new InProcessHub();
  const inproc = [hub.connect('bench'), hub.connect('bench')];
  const [gPub, gSub] = geoml.map(ofTransport) as [Endpoint, Endpoint];
  const [rPub, rSub] = raw.map(ofRaw) as [Endpoint, Endpoint];
  const [iPub, iSub] = inproc.map(ofTransport) as [Endpoint, Endpoint];
  echo(gSub, 'bench.rr.geoml');
  echo(rSub, 'bench.rr.raw');
  echo(iSub, 'bench.rr.inproc');
  await Promise.all([gSub.flush(), rSub.flush(), iSub.flush()]);

  const sides = ['geoml-nats', 'raw-nats', 'geoml-nats+codec', 'inproc'] as const;
  type Side = (typeof sides)[number];
  const tpMs: Record<Side, number[]> = {
    'geoml-nats': [],
    'raw-nats': [],
    'geoml-nats+codec': [],
    inproc: [],
  };
  const ratios: number[] = [];
  const lat: Record<'geoml-nats' | 'raw-nats' | 'inproc', number[]> = {
    'geoml-nats': [],
    'raw-nats': [],
    inproc: [],
  };
  const latRatios: number[] = [];
  const run: Record<Side, () => Promise<number>> = {
    'geoml-nats': () => throughputTrial(gPub, gSub, false),
    'raw-nats': () => throughputTrial(rPub, rSub, false),
    'geoml-nats+codec': () => throughputTrial(gPub, gSub, true),
    inproc: () => throughputTrial(iPub, iSub, false),
  };

  try {
    // Warm-up: JIT, socket buffers, server allocations.
    for (const side of sides) await run[side]();
    await latencyTrial(gPub, 'bench.rr.geoml');
    await latencyTrial(rPub, 'bench.rr.raw');

    const progress = new Progress('transport', REPS);
    for (let r = 0; r < REPS; r++) {
      const order = sides.map((_, i) => sides[(i + r) % sides.length] as Side);
      const times = {} as Record<Side, number>;
      for (const side of order) {
        times[side] = await run[side]();
        tpMs[side].push(times[side]);
      }
      ratios.push(times['raw-nats'] / times['geoml-nats']);
      const latOrder =
        r % 2 === 0 ? (['geoml-nats', 'raw-nats'] as const) : (['raw-nats', 'geoml-nats'] as const);
      const repLat = {} as Record<'geoml-nats' | 'raw-nats', number>;
      for (const side of latOrder) {
        const xs =
          side === 'raw-nats'
            ? await latencyTrial(rPub, 'bench.rr.raw')
            : await latencyTrial(gPub, 'bench.rr.geoml');
        lat[side].push(...xs);
        repLat[side] = median(xs);
      }
      latRatios.push(repLat['geoml-nats'] / repLat['raw-nats']);
      lat.inproc.push(...(await latencyTrial(iPub, 'bench.rr.inproc')));
      progress.tick(`natsVsRaw ${(ratios.at(-1) ?? 0).toFixed(2)}`);
    }
    progress.end();
  } finally {
    await Promise.all([...geoml, ...raw, ...inproc].map((c) => c.close()));
    await server.close();
  }

  const mibPerS = (ms: number) => (MESSAGES * payload.length) / 2 ** 20 / (ms / 1000);
  const throughput = Object.fromEntries(
    sides.map((s) => [s, +mibPerS(median(tpMs[s])).toFixed(1)]),
  ) as Record<Side, number>;
  const latency = Object.fromEntries(
    (Object.keys(lat) as (keyof typeof lat)[]).map((s) => [
      s,
      { medianUs: +(median(lat[s]) * 1000).toFixed(1), p99Us: +(pct(lat[s], 0.99) * 1000).toFixed(1) },
    ]),
  ) as Record<keyof typeof lat, { medianUs: number; p99Us: number }>;
  const summary = {
    natsVsRaw: +median(ratios).toFixed(3),
    goal: '>= 0.7',
    met: median(ratios) >= 0.7,
    throughputMiBps: throughput,
    requestLatencyUs: Object.fromEntries(Object.entries(latency).map(([k, v]) => [k, v.medianUs])),
    latencyVsRaw: +median(latRatios).toFixed(3),
  };

  console.log(
    `1 MiB tensor-map messages (${payload.length} bytes encoded), ${MESSAGES} per trial, ${REPS} repetitions`,
  );
  console.log('side                throughput MiB/s');
  for (const s of sides) console.log(`${s.padEnd(20)}${throughput[s]}`);
  console.log('64-byte request/reply   median µs   p99 µs');
  for (const [k, v] of Object.entries(latency))
    console.log(`${k.padEnd(24)}${String(v.medianUs).padEnd(12)}${v.p99Us}`);
  console.log(`natsVsRaw = ${summary.natsVsRaw} (goal >= 0.7): ${summary.met ? 'met' : 'NOT met'}`);

  writeResult('transport', summary, {
    payloadBytes: payload.length,
    messagesPerTrial: MESSAGES,
    requestsPerTrial: REQUESTS,
    repetitions: REPS,
    throughputTrialMs: tpMs,
    natsVsRawPerRep: ratios.map((x) => +x.toFixed(3)),
    latency,
    latencyVsRawPerRep: latRatios.map((x) => +x.toFixed(3)),
  });
  writeSvg(
    'transport',
    'throughput',
    barChart({
      title: `1 MiB tensor-map messages: throughput (median of ${REPS}); natsVsRaw = ${summary.natsVsRaw}`,
      labels: ['throughput (MiB/s)'],
      series: sides.map((s) => ({ name: s, values: [throughput[s]] })),
      yLabel: 'MiB/s',
    }),
  );
  writeSvg(
    'transport',
    'latency',
    barChart({
      title: '64-byte request/reply latency',
      labels: ['median', 'p99'],
      series: (Object.keys(latency) as (keyof typeof latency)[]).map((s) => ({
        name: s,
        values: [latency[s].medianUs, latency[s].p99Us],
      })),
      yLabel: 'µs',
    }),
  );
}

await main();
