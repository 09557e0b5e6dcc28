// Train an MNIST classifier across three emulated regions, publish it to a model registry and serve it
// with Clipper: the whole path in one process, through the library API. Run from the repository root:
//   npx tsx --conditions=@geoml/source docs/examples/train-and-serve.ts
import { readFileSync } from 'node:fs';
import { Clipper, HotLoader } from '@geoml/clipper';
import { createMnistClassifier, train } from '@geoml/gaia';
import { InProcessTransport, ModelRegistry } from '@geoml/transport';

// 1. Train with Gaia's ASP: each region trains on its own data, only significant updates cross the WAN.
const workload = createMnistClassifier({ hidden: [64], batchSize: 32 });
const result = await train({
  workload,
  mode: 'asp',
  topology: 'ec2-11',
  profileOptions: { regions: ['virginia', 'frankfurt', 'singapore'] },
  workersPerRegion: 1,
  stop: { maxClocks: 40 },
  evalEvery: 20,
});
console.log(`accuracy ${result.finalQuality.value.toFixed(3)}, WAN ${(result.wanBytes / 1e6).toFixed(1)} MB`);

// 2. Publish it as an ONNX artifact. The registry is in-process here; NatsTransport.connect() shares it.
const registry = new ModelRegistry(new InProcessTransport());
await registry.publish({
  name: 'mnist',
  format: 'onnx',
  files: { 'model.onnx': workload.toOnnx(result.model) },
  metadata: { ...workload.signature, quality: { ...result.finalQuality } },
});

// 3. Serve it: the hot-loader loads, verifies and warms up each new version, then swaps it in.
const clipper = new Clipper();
const loader = new HotLoader(clipper, registry);
await loader.watch('mnist', { replicas: 1 });
clipper.registerApplication({
  name: 'digits',
  inputType: 'tensor',
  latencySloMs: 1000,
  defaultOutput: null,
  linkedModels: ['mnist'],
});

// 4. Ask it about one digit (a held-out 9, the same file the curl examples send).
const digit = JSON.parse(readFileSync('docs/examples/digit.json', 'utf8')) as { input: number[] };
const answer = await clipper.predict<Record<string, { data: Float32Array }>>('digits', {
  image: { dtype: 'float32', shape: [784], data: Float32Array.from(digit.input) },
});
const probabilities = Array.from(answer.output.probabilities?.data ?? []);
console.log(
  `predicted digit ${probabilities.indexOf(Math.max(...probabilities))} (default: ${answer.default})`,
);

await loader.stop();
await clipper.close();
