/**
 * geoml's main job, end to end, in one process on the embedded in-process transport:
 *   1. train an MNIST classifier across three emulated regions with Gaia's ASP, and with a
 *      region-oblivious BSP parameter server for comparison (virtual time over an emulated WAN);
 *   2. publish the ASP model to the model registry;
 *   3. a Clipper server hot-loads it and serves it over HTTP while a load generator queries it;
 *   4. a second round of training publishes version 2, hot-swapped in while the queries keep flowing.
 *
 *   npx pnpm@10 demo [--keep-serving] [--nats nats://host:4222] [--quick]
 */
import { Clipper, HotLoader, HttpFrontend, PrometheusMetrics } from '@geoml/clipper';
import {
  calibrate,
  createMnistClassifier,
  type Mode,
  publishModel,
  type TrainResult,
  train,
} from '@geoml/gaia';
import { InProcessTransport, ModelRegistry, NatsTransport, type Transport } from '@geoml/transport';
import { runLoad, testDigits } from './demo/load.js';
import { progressBar } from './demo/progress.js';
import { printSummary } from './demo/summary.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const keepServing = args.includes('--keep-serving');
const natsUrl = args.includes('--nats') ? args[args.indexOf('--nats') + 1] : undefined;

const mnist = { hidden: [32], batchSize: 32, learningRate: 0.2, seed: 7 };
const clocks = quick ? 40 : 80;
const topology = {
  topology: 'ec2-11' as const,
  profileOptions: { regions: ['virginia', 'frankfurt', 'singapore'] },
};

// The registry is the only thing training and serving share: in-process by default, JetStream with --nats.
const transport: Transport = natsUrl
  ? await NatsTransport.connect({ servers: natsUrl, region: 'serving' })
  : new InProcessTransport();
const registry = new ModelRegistry(transport);

const waitFor = async (done: () => boolean, timeoutMs: number) => {
  for (const end = Date.now() + timeoutMs; !done() && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 50));
};

const trainOnce = async (mode: Mode, resume?: { params: TrainResult['model']; clock: number }) => {
  const workload = createMnistClassifier(mnist);
  // A second round goes on from the first one's clock for half as many clocks again.
  const maxClocks = resume ? resume.clock + clocks / 2 : clocks;
  const bar = progressBar(`train ${mode}`, maxClocks);
  const result = await train(
    {
      workload,
      mode,
      ...topology,
      workersPerRegion: 2,
      costModel,
      ds: 1,
      tau0: 0.05, // significance threshold 5 %, as the Gaia authors used for DNNs (1 % is the default)
      stop: { maxClocks },
      evalEvery: 10,
    },
    {
      onProgress: (e) =>
        bar.update(e.clock, `acc ${e.quality.value.toFixed(3)}  WAN ${(e.wanBytes / 1e6).toFixed(1)} MB`),
      ...(resume ? { resume } : {}),
    },
  );
  bar.stop();
  return { workload, result };
};

const publish = ({ workload, result }: Awaited<ReturnType<typeof trainOnce>>) =>
  publishModel(registry, 'mnist', result, { onnx: workload });

// 1. Train with ASP and BSP on the same emulated WAN.
process.stderr.write('calibrating the compute cost of one training step on this machine...\n');
const costModel = await calibrate(createMnistClassifier(mnist));
const started = performance.now();
const asp = await trainOnce('asp');
const bsp = await trainOnce('bsp');
const trainWallS = (performance.now() - started) / 1000;

// 2-3. Publish v1; Clipper hot-loads it from the registry and serves it over HTTP.
const metrics = new PrometheusMetrics();
const clipper = new Clipper({ metrics });
const loader = new HotLoader(clipper, registry);
const swaps: string[] = [];
loader.on((e) => e.type === 'swapped' && swaps.push(`v${e.to}`));
const v1 = await publish(asp);
await loader.watch('mnist', { replicas: 2, deploy: { batching: { mode: 'aimd' } } });
clipper.registerApplication({
  name: 'digits',
  inputType: 'tensor',
  latencySloMs: 100,
  defaultOutput: null,
  linkedModels: ['mnist'],
});
const server = await HttpFrontend.start(clipper, { metrics, port: keepServing ? 8080 : 0 });

// 4. A second round of ASP training (resumed from v1) makes v2; it is published while queries flow,
// hot-loaded and swapped in. (Here training and serving share one process, so v2 is trained first; in
// `pnpm demo:cluster` they are separate processes.)
const round2 = await trainOnce('asp', { params: asp.result.model, clock: asp.result.clocks.max });
const stopLoad = new AbortController();
const load = runLoad(server.url, testDigits(500), { ratePerS: 50, signal: stopLoad.signal, swaps });
await new Promise((r) => setTimeout(r, quick ? 2_000 : 4_000)); // steady state on v1
const v2 = await publish(round2);
await waitFor(() => swaps.includes(`v${v2.version}`), 60_000);
await new Promise((r) => setTimeout(r, quick ? 2_000 : 4_000)); // and on v2 after the swap
stopLoad.abort();
const served = await load;

printSummary({
  asp: asp.result,
  bsp: bsp.result,
  round2: round2.result,
  trainWallS,
  served,
  swaps,
  versions: [v1.version, v2.version],
  url: server.url,
  keepServing,
});

if (keepServing) {
  process.on('SIGINT', async () => {
    await server.close();
    await loader.stop();
    await clipper.close();
    await transport.close();
    process.exit(0);
  });
} else {
  await server.close();
  await loader.stop();
  await clipper.close();
  await transport.close();
}
