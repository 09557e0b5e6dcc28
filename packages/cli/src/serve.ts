import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Clipper, HotLoadCounters, HotLoader, HttpFrontend, PrometheusMetrics } from '@geoml/clipper';
import { parseConfig } from '@geoml/core';
import { InProcessTransport, ModelRegistry, type Transport } from '@geoml/transport';
import { CliError } from './cli-error.js';
import type { Io } from './io.js';
import { readModelFiles } from './model-files.js';
import { connectRegistry } from './registry-connection.js';
import { type ServeConfig, type ServeConfigInput, serveConfigSchema } from './serve-config.js';

export const SERVE_HELP = `Usage: geoml serve [options]

Serves ONNX or tfjs-layers models over HTTP: Clipper REST (POST /<model>/predict), the Open Inference
Protocol v2 (/v2/models/<model>/infer), the admin API (/admin/...) and Prometheus /metrics. Each model
gets an application of the same name. Runs until Ctrl-C.

Models:
  --model <name>=<path>   serve a local .onnx file or tfjs model.json (repeatable)
  --registry <url>        NATS URL of the model registry (nats://host:port)
  --watch <name>          serve the newest version of <name> from the registry and hot-swap new ones
                          (repeatable)
  --config <file.json>    settings as JSON (see docs/configuration.md); flags override its fields

Serving:
  --port <n>              HTTP port (default 8080; 0 picks a free one)
  --host <addr>           address to listen on (default 127.0.0.1)
  --slo-ms <ms>           latency objective per query (default 100)
  --batching <mode>       aimd | quantile | delayed | static (default aimd)
  --max-batch <n>         largest batch (batch size for static)
  --replicas <n>          containers per model (default 1)
  --cache / --no-cache    cache predictions (default on)
  -h, --help              this help
`;

const options = {
  model: { type: 'string', multiple: true },
  registry: { type: 'string' },
  watch: { type: 'string', multiple: true },
  config: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'slo-ms': { type: 'string' },
  batching: { type: 'string' },
  'max-batch': { type: 'string' },
  replicas: { type: 'string' },
  cache: { type: 'boolean' },
  'no-cache': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A number flag as a number; anything else stays as given so the schema names the field. */
const num = (v: string | undefined): number | string | undefined =>
  v === undefined ? undefined : v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;

/** The serve config that `argv` (flags, and the `--config` file they override) describes, validated. */
export async function serveConfigFromArgs(argv: string[]): Promise<ServeConfig | 'help'> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new CliError(`serve takes no arguments, got ${positionals.join(' ')}`);
  let base: Record<string, unknown> = {};
  if (values.config) {
    let text: string;
    try {
      text = await readFile(values.config, 'utf8');
    } catch (e) {
      throw new CliError(`cannot read serve config file ${values.config}: ${(e as Error).message}`);
    }
    try {
      base = JSON.parse(text);
    } catch (e) {
      throw new CliError(`serve config file ${values.config} is not JSON: ${(e as Error).message}`);
    }
    if (typeof base !== 'object' || base === null || Array.isArray(base))
      throw new CliError(`serve config file ${values.config} must hold a JSON object`);
  }
  const input: Record<string, unknown> = { ...base };
  const set = (key: keyof ServeConfigInput, v: unknown) => {
    if (v !== undefined) input[key] = v;
  };
  set('port', num(values.port));
  set('host', values.host);
  set('registry', values.registry);
  set('sloMs', num(values['slo-ms']));
  set('replicas', num(values.replicas));
  if (values.cache && values['no-cache']) throw new CliError('give --cache or --no-cache, not both');
  set('cache', values['no-cache'] ? false : values.cache);
  if (values.batching !== undefined || values['max-batch'] !== undefined) {
    const mode = values.batching ?? (base.batching as { mode?: string } | undefined)?.mode ?? 'aimd';
    const max = num(values['max-batch']);
    input.batching = {
      mode,
      ...(max === undefined ? {} : mode === 'static' ? { batchSize: max } : { maxBatchSize: max }),
    };
  }
  const models = Array.isArray(base.models) ? [...base.models] : [];
  for (const spec of values.model ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new CliError(`--model expects name=path, got ${spec}`);
    models.push({ name: spec.slice(0, eq), file: spec.slice(eq + 1) });
  }
  for (const name of values.watch ?? []) models.push({ name });
  input.models = models;
  if (models.length === 0)
    throw new CliError('nothing to serve: give --model name=path, --watch name or --config');
  return parseConfig(
    serveConfigSchema,
    input,
    values.config ? `serve config ${values.config}` : 'serve options',
  );
}

/** A running `geoml serve`. */
export interface Server {
  readonly url: string;
  readonly clipper: Clipper;
  close(): Promise<void>;
}

/**
 * Starts serving `config`: local files are loaded through an in-process registry and watched ones
 * through the NATS registry, both by `HotLoader` (verified, warmed up, hot-swapped on a new version);
 * every model gets an application of its own name with its latency objective.
 */
export async function startServer(config: ServeConfig, io: Io): Promise<Server> {
  const metrics = new PrometheusMetrics();
  const hotLoadMetrics = new HotLoadCounters(metrics.registry);
  const clipper = new Clipper({ metrics });
  const local = new InProcessTransport();
  const closers: (() => Promise<void>)[] = [() => clipper.close(), () => local.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const localLoader = new HotLoader(clipper, new ModelRegistry(local), { metrics: hotLoadMetrics });
    closers.push(() => localLoader.stop());
    // An application can only link a deployed model: one watched before its first version is
    // registered when that version swaps in.
    const waiting = new Map<string, () => void>();
    let remote: { loader: HotLoader; transport: Transport } | undefined;
    if (config.models.some((m) => !m.file) && config.registry) {
      const conn = await connectRegistry(config.registry, config.region);
      closers.push(() => conn.close());
      const loader = new HotLoader(clipper, conn.registry, { metrics: hotLoadMetrics });
      closers.push(() => loader.stop());
      loader.on((e) => {
        if (e.type !== 'swapped') return;
        io.err(`${e.model}: now serving version ${e.to}\n`);
        const app = waiting.get(e.model);
        waiting.delete(e.model);
        if (app) app();
      });
      remote = { loader, transport: conn.transport };
    }
    for (const m of config.models) {
      const watch = {
        replicas: m.replicas ?? config.replicas,
        deploy: { batching: m.batching ?? config.batching, cache: m.cache ?? config.cache },
      };
      if (m.file) {
        const { format, files } = await readModelFiles(m.file);
        await new ModelRegistry(local).publish({ name: m.name, format, files });
        await localLoader.watch(m.name, watch);
      } else {
        await remote?.loader.watch(m.name, watch);
      }
      const register = () =>
        clipper.registerApplication({
          name: m.name,
          inputType: 'tensor',
          latencySloMs: m.sloMs ?? config.sloMs,
          defaultOutput: null,
          linkedModels: [m.name],
        });
      const deployed = clipper.listModels().find((x) => x.name === m.name);
      const serving = deployed?.servingVersion;
      if (deployed) register();
      else waiting.set(m.name, register);
      io.err(
        `${m.name}: ${m.file ? m.file : `registry ${config.registry}`}, ` +
          (serving === undefined ? 'waiting for a first version\n' : `serving version ${serving}\n`),
      );
    }
    const frontend = await HttpFrontend.start(clipper, { port: config.port, host: config.host, metrics });
    closers.push(() => frontend.close());
    return { url: frontend.url, clipper, close };
  } catch (e) {
    await close();
    throw e;
  }
}
