import { ConfigError } from '@geoml/core';
import { CliError } from './cli-error.js';
import { type Io, processIo } from './io.js';
import { registryCommand } from './registry.js';
import { SERVE_HELP, serveConfigFromArgs, startServer } from './serve.js';
import { trainCommand } from './train.js';

export const HELP = `Usage: geoml <command> [options]

Train across regions (Gaia), serve at low latency (Clipper), joined by NATS.

Commands:
  serve      serve ONNX or tfjs models from files or from the registry (REST, Open Inference Protocol)
  train      train a workload across regions from a config file, optionally publish the model
  registry   list, publish and inspect model versions in a NATS JetStream registry

Run geoml <command> --help for its options. Docs: docs/README.md
`;

export interface MainOptions {
  /** Where output goes; default the process's stdout and stderr. */
  readonly io?: Io;
  /** Ends `serve`; default SIGINT or SIGTERM. */
  readonly stop?: Promise<unknown>;
}

const signalled = () =>
  new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });

/**
 * Runs the `geoml` command line on `argv` (without node and the script) and returns the exit code:
 * 0 done, 1 failed, 2 bad usage or an invalid config (the message names the field).
 */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo;
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const config = await serveConfigFromArgs(rest);
        if (config === 'help') {
          io.out(SERVE_HELP);
          return 0;
        }
        const server = await startServer(config, io);
        io.out(`geoml serving on ${server.url} (Ctrl-C to stop)\n`);
        await (options.stop ?? signalled());
        await server.close();
        return 0;
      }
      case 'train':
        return await trainCommand(rest, io);
      case 'registry':
        return await registryCommand(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(HELP);
        return command === undefined ? 2 : 0;
      default:
        io.err(`geoml: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    const usage =
      e instanceof CliError ||
      e instanceof ConfigError ||
      String((e as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
    io.err(`geoml ${command}: ${(e as Error).message}\n`);
    if (usage && (e as { code?: unknown }).code !== 'INVALID_CONFIG')
      io.err(`Run geoml ${command} --help for usage.\n`);
    return usage ? 2 : 1;
  }
}
