import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { BatchEvent, CacheEvent, DropEvent, PredictionEvent, ServingMetrics } from '../metrics.js';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/**
 * The serving core's metrics as Prometheus series, in a registry of its own (so two servers in one
 * process never collide). Pass it to `new Clipper({ metrics })` and to the HTTP frontend, which serves
 * `registry` on `GET /metrics`. Latencies are histograms (aggregatable across frontends, unlike Clipper's
 * pre-computed percentiles); the default ratio is `geoml_default_predictions_total / geoml_predictions_total`.
 */
export class PrometheusMetrics implements ServingMetrics {
  readonly registry = new Registry();
  private readonly latency: Histogram<'app' | 'model'>;
  private readonly predictions: Counter<'app' | 'model' | 'version'>;
  private readonly defaults: Counter<'app' | 'model' | 'reason'>;
  private readonly batchSize: Histogram<'model' | 'version'>;
  private readonly batchLatency: Histogram<'model' | 'version'>;
  private readonly queueTime: Histogram<'model' | 'version'>;
  private readonly batchFailures: Counter<'model' | 'version'>;
  private readonly dropped: Counter<'model' | 'version' | 'reason'>;
  private readonly cacheLookups: Counter<'model' | 'version' | 'result'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.latency = new Histogram({
      name: 'geoml_prediction_latency_seconds',
      help: 'Time from a query arriving to its answer, per application and model.',
      labelNames: ['app', 'model'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.predictions = new Counter({
      name: 'geoml_predictions_total',
      help: 'Queries answered, by application, model and version.',
      labelNames: ['app', 'model', 'version'],
      registers,
    });
    this.defaults = new Counter({
      name: 'geoml_default_predictions_total',
      help: 'Queries answered with the default output, by reason.',
      labelNames: ['app', 'model', 'reason'],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'geoml_batch_size',
      help: 'Queries per batch a replica executed.',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.batchLatency = new Histogram({
      name: 'geoml_batch_latency_seconds',
      help: 'Time a replica took for one batch.',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.queueTime = new Histogram({
      name: 'geoml_queue_time_seconds',
      help: 'Time a query waited in its model version queue before its batch was sent.',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.batchFailures = new Counter({
      name: 'geoml_batch_failures_total',
      help: 'Batches a container failed (crash, bad input, error).',
      labelNames: ['model', 'version'],
      registers,
    });
    this.dropped = new Counter({
      name: 'geoml_dropped_queries_total',
      help: 'Queries answered without execution: refused at admission, queue full, expired, closed.',
      labelNames: ['model', 'version', 'reason'],
      registers,
    });
    this.cacheLookups = new Counter({
      name: 'geoml_cache_lookups_total',
      help: 'Prediction cache lookups by result (hit, coalesced, miss).',
      labelNames: ['model', 'version', 'result'],
      registers,
    });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'geoml_process_' });
  }

  prediction(e: PredictionEvent): void {
    const app = e.app ?? '';
    const model = e.model ?? '';
    this.latency.observe({ app, model }, e.latencyMs / 1000);
    this.predictions.inc({ app, model, version: e.version ?? '' });
    if (e.default) this.defaults.inc({ app, model, reason: e.reason ?? 'unknown' });
  }

  batch(e: BatchEvent): void {
    const labels = { model: e.model, version: e.version };
    this.batchSize.observe(labels, e.size);
    this.batchLatency.observe(labels, e.latencyMs / 1000);
    for (const q of e.queueMs) this.queueTime.observe(labels, q / 1000);
    if (!e.ok) this.batchFailures.inc(labels);
  }

  drop(e: DropEvent): void {
    this.dropped.inc({ model: e.model, version: e.version, reason: e.reason }, e.count);
  }

  cache(e: CacheEvent): void {
    this.cacheLookups.inc({ model: e.model, version: e.version, result: e.lookup });
  }
}
