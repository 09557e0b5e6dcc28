/**
 * One region of the cluster demo's training: trains its region's shard of MNIST with Gaia's ASP, in wall
 * time, talking to the other regions' processes over its regional nats-server (gateways through WAN
 * proxies). With `--publish`, the final model goes to the JetStream registry as an ONNX artifact.
 *
 *   train-region.ts --region virginia --regions virginia,frankfurt,singapore --nats <urls> --clocks 30 [--publish]
 */
import { createMnistClassifier, publishModel, train } from '@geoml/gaia';
import { ModelRegistry, NatsTransport } from '@geoml/transport';
import { arg, log, report, stopSignal } from './role.js';

const region = arg('region');
const regions = arg('regions').split(',');
const clocks = Number(arg('clocks'));
const publish = process.argv.includes('--publish');
const stop = stopSignal();

const transport = await NatsTransport.connect({ servers: arg('nats').split(','), region });
// train() takes no abort signal: on a stop, close the connection and leave (the orchestrator is ending the run)
stop.addEventListener('abort', () => {
  void transport.close().finally(() => process.exit(1));
});

const workload = createMnistClassifier({ hidden: [32], batchSize: 32, learningRate: 0.2, seed: 7 });
log(`training ${region}'s shard of MNIST with ASP for ${clocks} clocks`);
const result = await train(
  {
    workload,
    mode: 'asp',
    topology: { regions },
    workersPerRegion: 1,
    // wall time: the real compute is the cost, no emulated extra
    costModel: { stepMs: 0, batchSize: 32 },
    stop: { maxClocks: clocks },
    evalEvery: 10,
    time: 'wall',
    run: 'cluster',
  },
  {
    connect: () => transport,
    regions: [region],
    onProgress: (e) =>
      log(
        `clock ${e.clock}/${clocks}  acc ${e.quality.value.toFixed(3)}  sent ${(e.wanBytes / 1e6).toFixed(2)} MB`,
      ),
  },
);
log(`done in ${result.elapsedS.toFixed(1)} s: acc ${result.finalQuality.value.toFixed(3)}`);

let version: number | undefined;
if (publish) {
  const artifact = await publishModel(new ModelRegistry(transport), 'mnist', result, {
    onnx: workload,
    training: { trainedIn: region },
  });
  version = Number(artifact.version);
  log(`published mnist v${version} (onnx) to the registry`);
}
report({
  region,
  clocks: result.clocks.max,
  accuracy: result.finalQuality.value,
  elapsedS: result.elapsedS,
  sentBytes: result.wanBytes,
  version,
});
await transport.close();
