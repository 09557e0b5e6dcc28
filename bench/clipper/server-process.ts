/**
 * Entry of a server child process for the HTTP experiments, so the server under test never shares an
 * event loop with the load generator: `server-process.ts naive|geoml <model>`. Prints one JSON line
 * `{"port": n}` when listening (geoml serves app `bench` at the 20 ms SLO and `bulk` at 2 s); exits when its stdin closes (the benchmark ended or died).
 */
import { Clipper, HttpFrontend, PrometheusMetrics } from '@geoml/clipper';
import { buildOnnxModel, type OnnxModelName } from '../../test/fixtures/onnx-models.js';
import { deployApp } from './deploy.js';
import { startNaiveServer } from './naive-server.js';

const [kind, modelName] = process.argv.slice(2) as ['naive' | 'geoml', OnnxModelName];
const model = buildOnnxModel(modelName);

async function main(): Promise<() => Promise<void>> {
  if (kind === 'naive') {
    const server = await startNaiveServer(model.bytes, model.inputShape);
    process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
    return () => server.close();
  }
  const metrics = new PrometheusMetrics();
  const clipper = new Clipper({ metrics });
  await deployApp(clipper, 'bench', model, { mode: 'aimd', maxBatchSize: 256 });
  // The same model under a loose objective, for the throughput limit when latency is not the constraint.
  await deployApp(clipper, 'bulk', model, { mode: 'aimd', maxBatchSize: 256 }, { sloMs: 2000 });
  const frontend = await HttpFrontend.start(clipper, { port: 0, metrics });
  process.stdout.write(`${JSON.stringify({ port: frontend.port })}\n`);
  return async () => {
    await frontend.close();
    await clipper.close();
  };
}

const close = await main();
process.stdin.resume();
process.stdin.on('end', () => {
  void close().finally(() => process.exit(0));
});
