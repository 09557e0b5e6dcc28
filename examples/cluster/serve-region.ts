/**
 * The cluster demo's serving process: a Clipper server whose HotLoader watches the JetStream model
 * registry (through its regional nats-server) and serves each new `mnist` version over HTTP. Prints its
 * URL, then `serving mnist v<n>` on every swap; stops on SIGINT/SIGTERM and reports what it served.
 *
 *   serve-region.ts --region frankfurt --nats <urls>
 */
import { Clipper, HotLoader, HttpFrontend, PrometheusMetrics } from '@geoml/clipper';
import { ModelRegistry, NatsTransport } from '@geoml/transport';
import { aborted, arg, log, report, stopSignal } from './role.js';

const region = arg('region');
const stop = stopSignal();

const transport = await NatsTransport.connect({ servers: arg('nats').split(','), region });
const metrics = new PrometheusMetrics();
const clipper = new Clipper({ metrics });
const loader = new HotLoader(clipper, new ModelRegistry(transport));
const served: number[] = [];
loader.on((e) => {
  if (e.type === 'swapped') {
    // an application links only deployed models: register it with the first version
    if (served.length === 0)
      clipper.registerApplication({
        name: 'digits',
        inputType: 'tensor',
        latencySloMs: 200,
        defaultOutput: null,
        linkedModels: ['mnist'],
      });
    served.push(Number(e.to));
    log(`serving mnist v${e.to}`);
  } else if (e.type === 'failed') log(`hot-load of v${e.version} failed at ${e.stage}: ${e.error.message}`);
});
await loader.watch('mnist', { replicas: 1 });
const server = await HttpFrontend.start(clipper, { metrics, port: 0 });
log(`listening on ${server.url} (POST /digits/predict), watching the registry in ${region}`);

await aborted(stop);
await server.close();
await loader.stop();
await clipper.close();
await transport.close();
report({ region, url: server.url, versions: served });
