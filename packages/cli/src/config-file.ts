import { readFile } from 'node:fs/promises';
import { parseConfig } from '@geoml/core';
import type { z } from 'zod';
import { CliError } from './cli-error.js';

/**
 * Reads a JSON config file and validates it against `schema`; a bad field throws core's `ConfigError`
 * naming it (`invalid train config file x.json: stop.maxClocks: ...`), an unreadable file a `CliError`.
 */
export async function readConfigFile<S extends z.ZodType>(
  schema: S,
  path: string,
  what: string,
): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} file ${path}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${what} file ${path} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseConfig(schema, json, `${what} file ${path}`);
}
