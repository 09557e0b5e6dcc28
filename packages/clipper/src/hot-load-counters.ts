import { Counter, Gauge, type Registry } from 'prom-client';
import type { HotLoadEvent, HotLoadMetrics } from './hot-load-events.js';

/**
 * The hot-loader's events as Prometheus series in `registry` (e.g. `PrometheusMetrics.registry`, which the
 * HTTP frontend serves on `/metrics`): `geoml_hot_load_events_total{model, event, stage}` and
 * `geoml_serving_version{model}` (the registry version now serving). Pass it as `HotLoader`'s `metrics`.
 */
export class HotLoadCounters implements HotLoadMetrics {
  private readonly events: Counter<'model' | 'event' | 'stage'>;
  private readonly serving: Gauge<'model'>;

  constructor(registry: Registry) {
    this.events = new Counter({
      name: 'geoml_hot_load_events_total',
      help: 'Hot-load steps by model and kind (loading, loaded, canary, swapped, rolled-back, disposed, skipped, failed); failures by stage.',
      labelNames: ['model', 'event', 'stage'],
      registers: [registry],
    });
    this.serving = new Gauge({
      name: 'geoml_serving_version',
      help: 'The registry version each hot-loaded model serves.',
      labelNames: ['model'],
      registers: [registry],
    });
  }

  hotLoad(event: HotLoadEvent): void {
    this.events.inc({
      model: event.model,
      event: event.type,
      stage: event.type === 'failed' ? event.stage : '',
    });
    if (event.type === 'swapped' || event.type === 'rolled-back') {
      const v = Number(event.to);
      if (Number.isFinite(v)) this.serving.set({ model: event.model }, v);
    }
  }
}
