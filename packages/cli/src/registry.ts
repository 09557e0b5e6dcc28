import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { ARTIFACT_FORMATS, type ArtifactFormat, type ArtifactMetadata } from '@geoml/core';
import { CliError } from './cli-error.js';
import type { Io } from './io.js';
import { connectRegistry } from './registry-connection.js';

export const REGISTRY_HELP = `Usage: geoml registry <list|publish|inspect> --registry <nats-url> [...]

  geoml registry list --registry <url> [<model>]
      every model with its versions, or the versions of <model>
  geoml registry publish --registry <url> --name <model> --format <onnx|tfjs-layers|tensors> <file>...
      publish files as the next version of <model> (each stored under its base name)
      [--metadata <json>]  metadata object of the version (e.g. {"inputs": [...], "outputs": [...]})
  geoml registry inspect --registry <url> <model> [<version>|latest]
      print a version's manifest (format, files with sha256 and size, metadata) as JSON

  --registry <url>   NATS URL of the JetStream registry (nats://host:port), or $GEOML_REGISTRY
  -h, --help         this help
`;

const options = {
  registry: { type: 'string' },
  name: { type: 'string' },
  format: { type: 'string' },
  metadata: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Runs `geoml registry ...` with `argv`; returns the exit code. */
export async function registryCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [action, ...args] = positionals;
  if (values.help || action === undefined) {
    io.out(REGISTRY_HELP);
    return values.help ? 0 : 2;
  }
  if (!['list', 'publish', 'inspect'].includes(action))
    throw new CliError(`unknown registry command ${JSON.stringify(action)}: use list, publish or inspect`);
  const url = values.registry ?? process.env.GEOML_REGISTRY;
  if (!url) throw new CliError('registry needs --registry nats://host:port (or GEOML_REGISTRY)');

  // Check the arguments before connecting, so a mistake does not wait on the network.
  let publish: { name: string; format: ArtifactFormat; metadata: ArtifactMetadata } | undefined;
  let inspect: { name: string; version: number | 'latest' } | undefined;
  if (action === 'publish') {
    if (!values.name) throw new CliError('registry publish needs --name <model>');
    const format = values.format as ArtifactFormat;
    if (!ARTIFACT_FORMATS.includes(format))
      throw new CliError(
        `registry publish needs --format ${ARTIFACT_FORMATS.join('|')}, got ${values.format}`,
      );
    if (args.length === 0) throw new CliError('registry publish needs at least one file');
    let metadata: ArtifactMetadata = {};
    if (values.metadata !== undefined) {
      try {
        metadata = JSON.parse(values.metadata);
      } catch (e) {
        throw new CliError(`--metadata is not JSON: ${(e as Error).message}`);
      }
    }
    publish = { name: values.name, format, metadata };
  } else if (action === 'inspect') {
    const [name, v = 'latest'] = args;
    if (!name) throw new CliError('registry inspect needs a model name');
    if (v !== 'latest' && !/^[1-9]\d*$/.test(v))
      throw new CliError(`version must be a number or latest, got ${v}`);
    inspect = { name, version: v === 'latest' ? 'latest' : Number(v) };
  } else if (args.length > 1) {
    throw new CliError('registry list takes at most one model name');
  }

  const files: Record<string, Uint8Array> = {};
  if (publish) {
    for (const path of args) {
      const key = basename(path);
      if (files[key]) throw new CliError(`two files are named ${key}`);
      try {
        files[key] = new Uint8Array(await readFile(path));
      } catch (e) {
        throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
      }
    }
  }

  const conn = await connectRegistry(url);
  try {
    if (publish) {
      const artifact = await conn.registry.publish({ ...publish, files });
      io.out(
        `published ${artifact.name} version ${artifact.version} (${artifact.format}, sha256 ${artifact.sha256})\n`,
      );
    } else if (inspect) {
      const manifest = await conn.registry.manifest(inspect.name, inspect.version);
      io.out(`${JSON.stringify(manifest, null, 2)}\n`);
    } else if (args[0]) {
      const versions = await conn.registry.list(args[0]);
      io.out(versions.length > 0 ? `${args[0]}: ${versions.join(' ')}\n` : `${args[0]}: no versions\n`);
    } else {
      const names = await conn.registry.names();
      if (names.length === 0) io.out('the registry holds no models\n');
      for (const name of names) io.out(`${name}: ${(await conn.registry.list(name)).join(' ')}\n`);
    }
    return 0;
  } finally {
    await conn.close();
  }
}
