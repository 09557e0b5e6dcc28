import { parseArgs } from 'node:util';
import {
  createLda,
  createMatrixFactorization,
  createMnistClassifier,
  type MnistClassifierWorkload,
  publishModel,
  type TrainResult,
  train,
  type Workload,
} from '@geoml/gaia';
import { NatsTransport } from '@geoml/transport';
import { CliError } from './cli-error.js';
import { readConfigFile } from './config-file.js';
import type { Io } from './io.js';
import { connectRegistry } from './registry-connection.js';
import { type TrainFile, trainFileSchema, type WorkloadSpec } from './train-file.js';

export const TRAIN_HELP = `Usage: geoml train --config <file.json> [--publish <registry-url> --name <model>]

Trains a workload across regions (emulated WAN, virtual time by default) as the config file describes:
{ "workload": { "name": "mnist" | "matrix-factorization" | "lda", "options": {...} },
  "mode": "asp", "topology": "ec2-11", "profileOptions": { "regions": [...] },
  "workersPerRegion": 2, "stop": { "maxClocks": 100 } }   (see docs/configuration.md)
Progress goes to stderr, the summary to stdout.

  --config <file.json>     the train config (required)
  --nats <url>             run one region of a multi-process run over this NATS server (its region's
                           cluster of a supercluster); needs --region, ASP modes, "time": "wall"
  --region <name>          the region this process trains (one of the config's regions)
  --publish <url>          publish the trained model to the registry at this NATS URL
  --name <model>           the model name to publish under (required with --publish)
  --json                   print the summary as JSON
  -h, --help               this help
`;

const options = {
  config: { type: 'string' },
  publish: { type: 'string' },
  name: { type: 'string' },
  nats: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function createWorkload(spec: WorkloadSpec): Workload {
  switch (spec.name) {
    case 'matrix-factorization':
      return createMatrixFactorization(spec.options) as unknown as Workload;
    case 'mnist':
      return createMnistClassifier(spec.options) as unknown as Workload;
    case 'lda':
      return createLda(spec.options) as unknown as Workload;
  }
}

/** What `geoml train` prints (and `--json` prints as is). */
export interface TrainSummary {
  readonly workload: string;
  readonly mode: string;
  readonly regions: readonly string[];
  readonly clocks: number;
  readonly metric: string;
  readonly quality: number;
  readonly elapsedS: number;
  readonly wanBytes: number;
  readonly wanMessages: number;
  readonly published?: { readonly name: string; readonly version: number; readonly format: string };
}

/** Runs `geoml train` with `argv`; returns the exit code. */
export async function trainCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (values.help) {
    io.out(TRAIN_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new CliError(`train takes no arguments, got ${positionals.join(' ')}`);
  if (!values.config) throw new CliError('train needs --config <file.json> (see geoml train --help)');
  if (values.publish && !values.name) throw new CliError('--publish needs --name <model>');
  if (values.name && !values.publish) throw new CliError('--name is only used with --publish <registry-url>');
  if (Boolean(values.nats) !== Boolean(values.region)) throw new CliError('--nats and --region go together');
  const file: TrainFile = await readConfigFile(trainFileSchema, values.config, 'train config');
  const peer = values.nats && values.region ? await connectRegion(values.nats, values.region) : undefined;
  // Connect before training, so an unreachable registry fails fast rather than after the run.
  const conn = values.publish ? await connectRegistry(values.publish, 'trainer') : undefined;
  try {
    const workload = createWorkload(file.workload);
    const distributed = peer ? { connect: () => peer, regions: [values.region as string] } : {};
    const max = file.stop.maxClocks;
    const result: TrainResult = await train(
      { ...file, workload },
      {
        ...distributed,
        onProgress: (e) =>
          io.err(
            `${file.mode} clock ${e.clock}/${max}  ${e.quality.metric} ${e.quality.value.toFixed(4)}  ` +
              `${file.time} ${e.timeS.toFixed(1)} s  WAN ${(e.wanBytes / 1e6).toFixed(2)} MB\n`,
          ),
      },
    );
    let published: TrainSummary['published'];
    if (conn && values.name) {
      // MNIST goes out as ONNX, loadable by `geoml serve` as it is; the others as raw parameters.
      const onnx =
        file.workload.name === 'mnist' ? (workload as unknown as MnistClassifierWorkload) : undefined;
      const artifact = await publishModel(conn.registry, values.name, result, onnx ? { onnx } : {});
      published = { name: artifact.name, version: artifact.version, format: artifact.format };
    }
    const summary: TrainSummary = {
      workload: file.workload.name,
      mode: result.mode,
      regions: result.regions,
      clocks: result.clocks.max,
      metric: result.finalQuality.metric,
      quality: result.finalQuality.value,
      elapsedS: result.elapsedS,
      wanBytes: result.wanBytes,
      wanMessages: result.wanMessages,
      ...(published ? { published } : {}),
    };
    io.out(values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary, file.time));
    return 0;
  } finally {
    await conn?.close();
    await peer?.close();
  }
}

async function connectRegion(url: string, region: string): Promise<NatsTransport> {
  return NatsTransport.connect({ servers: url.split(',').map((s) => s.trim()), region });
}

function formatSummary(s: TrainSummary, time: string): string {
  const lines = [
    `${s.workload} trained with ${s.mode} across ${s.regions.length} regions (${s.regions.join(', ')})`,
    `  ${s.metric}: ${s.quality.toFixed(4)} after ${s.clocks} clocks`,
    `  time: ${s.elapsedS.toFixed(1)} s (${time})`,
    `  WAN: ${(s.wanBytes / 1e6).toFixed(2)} MB in ${s.wanMessages} messages`,
  ];
  if (s.published)
    lines.push(`  published: ${s.published.name} version ${s.published.version} (${s.published.format})`);
  return `${lines.join('\n')}\n`;
}
