/**
 * Serves a generated ONNX model over HTTP: `mlp-s` (784-256-10, an MNIST-sized MLP built in code) on two
 * OnnxPredictor replicas (each a worker thread) with adaptive (AIMD) batching, behind application `digits`
 * with a 20 ms latency objective (`--slo-ms`); Clipper's REST API, the Open Inference Protocol v2 and Prometheus
 * `/metrics` on one port. Prints ready-to-paste curl commands and serves until Ctrl-C.
 *
 *   npx tsx --conditions=@geoml/source examples/serve.ts [--port 8080] [--slo-ms 20]
 *   npx tsx --conditions=@geoml/source examples/serve.ts --smoke   # queries itself, prints a summary, exits
 *
 * `--smoke` checks the plumbing, not speed: it uses a 1 s objective unless `--slo-ms` is given, so a busy
 * machine does not turn its answers into default outputs.
 */
import { Clipper, HttpFrontend, OnnxPredictor, PrometheusMetrics } from '@geoml/clipper';
import { buildOnnxModel, sampleInput } from '../test/fixtures/onnx-models.js';

const smoke = process.argv.includes('--smoke');
const flag = (name: string): number | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
};
const port = flag('--port') ?? (smoke ? 0 : 8080);
const sloMs = flag('--slo-ms') ?? (smoke ? 1000 : 20);

const model = buildOnnxModel('mlp-s');
const metrics = new PrometheusMetrics();
const clipper = new Clipper({ metrics });
await clipper.deployModel('mlp-s', 1, () => OnnxPredictor.create(model.bytes), {
  replicas: 2,
  batching: { mode: 'aimd', maxBatchSize: 64 },
  metadata: {
    platform: 'onnxruntime',
    signature: {
      inputs: [{ name: model.inputName, datatype: 'FP32', shape: [...model.inputShape] }],
      outputs: [{ name: model.outputName, datatype: 'FP32', shape: [...model.outputShape] }],
    },
  },
});
clipper.registerApplication({
  name: 'digits',
  inputType: 'tensor',
  latencySloMs: sloMs,
  defaultOutput: null,
  linkedModels: ['mlp-s'],
});
// Warm both replicas (session allocations, JIT) before taking traffic, so the first queries meet the SLO.
const warm = {
  [model.inputName]: { dtype: 'float32' as const, shape: [...model.inputShape], data: sampleInput(model, 0) },
};
for (let i = 0; i < 20; i++) await clipper.predictModel('mlp-s', warm, { timeoutMs: 5000 });
const frontend = await HttpFrontend.start(clipper, { port, metrics });
const url = frontend.url;

async function shutdown(code: number): Promise<never> {
  await frontend.close();
  await clipper.close();
  process.exit(code);
}

if (smoke) {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const problems: string[] = [];
  const input = Array.from(sampleInput(model, 1));
  const rest = await post('/digits/predict', { input });
  const output = rest.body.output as number[] | null;
  if (rest.status !== 200 || rest.body.default !== false || output?.length !== 10) {
    problems.push(`REST predict answered ${rest.status} ${JSON.stringify(rest.body).slice(0, 200)}`);
  }
  const batch = await post('/digits/predict', {
    input_batch: [1, 2, 3].map((s) => Array.from(sampleInput(model, s))),
  });
  const answers = (batch.body.batch_predictions ?? []) as { default: boolean }[];
  if (batch.status !== 200 || answers.length !== 3 || answers.some((a) => a.default)) {
    problems.push(`REST input_batch answered ${batch.status} ${JSON.stringify(batch.body).slice(0, 200)}`);
  }
  const oip = await post('/v2/models/mlp-s/infer', {
    inputs: [{ name: model.inputName, shape: [1, 784], datatype: 'FP32', data: input }],
  });
  const oipOut = (oip.body.outputs as { name: string; shape: number[] }[] | undefined)?.[0];
  if (oip.status !== 200 || oipOut?.name !== model.outputName || oipOut.shape.join() !== '1,10') {
    problems.push(`OIP infer answered ${oip.status} ${JSON.stringify(oip.body).slice(0, 200)}`);
  }
  const bad = await post('/digits/predict', { input: [1, 2, 3] });
  if (bad.status !== 400) problems.push(`a 3-value input answered ${bad.status}, expected 400`);
  const scrape = await (await fetch(`${url}/metrics`)).text();
  const counted = /geoml_predictions_total\{[^}]*app="digits"[^}]*\} (\d+)/.exec(scrape);
  if (!counted || Number(counted[1]) < 4) problems.push('metrics do not count the digits predictions');
  const top = output ? output.indexOf(Math.max(...output)) : -1;
  console.log(`served ${url}`);
  console.log(`REST /digits/predict: 10 outputs, argmax ${top}, default ${rest.body.default}`);
  console.log(`REST input_batch: ${answers.length} answers`);
  console.log(`OIP /v2/models/mlp-s/infer: output '${oipOut?.name}' shape [${oipOut?.shape.join(', ')}]`);
  console.log(`bad input: HTTP ${bad.status} (${String(bad.body.error).slice(0, 80)})`);
  console.log(`metrics: geoml_predictions_total{app="digits"} = ${counted?.[1] ?? 'missing'}`);
  if (problems.length > 0) {
    console.error(`smoke test FAILED:\n  ${problems.join('\n  ')}`);
    await shutdown(1);
  }
  console.log('smoke test ok');
  await shutdown(0);
}

// 784 values are too long to paste; let node write them.
const values = `$(node -e 'console.log(Array.from({length:784},(_,i)=>(i%28)/28).join())')`;
console.log(`geoml is serving model mlp-s (784 -> 10) as application "digits" (SLO ${sloMs} ms) on ${url}

Clipper REST:
  curl -s -X POST ${url}/digits/predict -H 'content-type: application/json' \\
    -d "{\\"input\\": [${values}]}"

Open Inference Protocol v2:
  curl -s ${url}/v2/models/mlp-s
  curl -s -X POST ${url}/v2/models/mlp-s/infer -H 'content-type: application/json' \\
    -d "{\\"inputs\\": [{\\"name\\": \\"input\\", \\"shape\\": [1, 784], \\"datatype\\": \\"FP32\\", \\"data\\": [${values}]}]}"

Prometheus metrics:
  curl -s ${url}/metrics | grep '^geoml_'

Ctrl-C to stop.`);
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
