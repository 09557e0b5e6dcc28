import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ArtifactFormat } from '@geoml/core';
import { CliError } from './cli-error.js';

/** The files of a model on disk, keyed as an artifact names them, and the format they make. */
export interface ModelFiles {
  readonly format: ArtifactFormat;
  readonly files: Record<string, Uint8Array>;
}

async function read(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new CliError(`cannot read model file ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Reads a servable model: an `.onnx` file becomes `model.onnx`; a tfjs-layers `model.json` brings the
 * weight files its manifest names (relative to it). Anything else is a `CliError`.
 */
export async function readModelFiles(path: string): Promise<ModelFiles> {
  if (path.endsWith('.onnx')) return { format: 'onnx', files: { 'model.onnx': await read(path) } };
  if (basename(path).endsWith('.json')) {
    const json = await read(path);
    let manifest: { weightsManifest?: { paths?: unknown }[] };
    try {
      manifest = JSON.parse(new TextDecoder().decode(json));
    } catch (e) {
      throw new CliError(`${path} is not a tfjs model.json: ${(e as Error).message}`, { cause: e });
    }
    const files: Record<string, Uint8Array> = { 'model.json': json };
    for (const group of Array.isArray(manifest.weightsManifest) ? manifest.weightsManifest : []) {
      for (const p of Array.isArray(group?.paths) ? group.paths : []) {
        files[String(p)] = await read(join(dirname(path), String(p)));
      }
    }
    return { format: 'tfjs-layers', files };
  }
  throw new CliError(`cannot tell the format of ${path}: expected an .onnx file or a tfjs model.json`);
}
