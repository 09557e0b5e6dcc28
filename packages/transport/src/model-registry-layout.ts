import { ARTIFACT_NAME, ArtifactError, type ModelArtifact, parseArtifact } from '@geoml/core';
import { RegistryError } from './errors.js';

/**
 * How the registry lays artifacts out in a transport's kv and blob stores:
 * - kv key `manifest.<name>.<version>` holds the manifest as JSON, written once (create-if-absent);
 * - blob `sha256-<hex>` holds a file's bytes, addressed by content: identical files of different
 *   versions or models are stored (and sent across the WAN) once, and a blob's name says what its
 *   bytes must hash to.
 */

const MANIFEST_PREFIX = 'manifest';

export const manifestKey = (name: string, version: number) => `${MANIFEST_PREFIX}.${name}.${version}`;
export const manifestPattern = (name: string) => `${MANIFEST_PREFIX}.${name}.*`;
export const allManifestsPattern = `${MANIFEST_PREFIX}.*.*`;
export const blobName = (sha256: string) => `sha256-${sha256}`;

/** `{ name, version }` of a manifest key, or undefined for a key the registry would never write. */
export function parseManifestKey(key: string): { name: string; version: number } | undefined {
  const [prefix, name, version, ...rest] = key.split('.');
  if (prefix !== MANIFEST_PREFIX || rest.length > 0 || name === undefined || version === undefined)
    return undefined;
  if (!ARTIFACT_NAME.test(name) || !/^[1-9][0-9]{0,15}$/.test(version)) return undefined;
  const v = Number(version);
  return Number.isSafeInteger(v) ? { name, version: v } : undefined;
}

export function checkName(name: unknown): string {
  if (typeof name !== 'string' || !ARTIFACT_NAME.test(name))
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `invalid model name ${JSON.stringify(name)}: expected 1-64 letters, digits, '-' or '_', starting with a letter or digit`,
    );
  return name;
}

export function checkVersion(version: unknown): number | 'latest' {
  if (version === 'latest' || (typeof version === 'number' && Number.isSafeInteger(version) && version > 0))
    return version;
  throw new RegistryError(
    'INVALID_ARGUMENT',
    `invalid model version ${JSON.stringify(version)}: expected a positive integer or 'latest'`,
  );
}

export function encodeManifest(artifact: ModelArtifact): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(artifact));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and validates the manifest stored under `manifest.<name>.<version>`. Anything a buggy or
 * hostile publisher could have written there — bytes that are not UTF-8 JSON, a schema violation, a
 * manifest that claims another name or version than its key — is a `RegistryError` `INVALID_MANIFEST`
 * whose message names the model, the version and the bad field.
 */
export function decodeManifest(bytes: Uint8Array, name: string, version: number): ModelArtifact {
  const where = `${name} v${version}`;
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(bytes));
  } catch (e) {
    throw new RegistryError(
      'INVALID_MANIFEST',
      `${where}: manifest is not UTF-8 JSON: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  let artifact: ModelArtifact;
  try {
    artifact = parseArtifact(json);
  } catch (e) {
    if (e instanceof ArtifactError)
      throw new RegistryError('INVALID_MANIFEST', `${where}: ${e.message}`, { cause: e });
    throw e;
  }
  if (artifact.name !== name)
    throw new RegistryError('INVALID_MANIFEST', `${where}: name: the manifest says "${artifact.name}"`);
  if (artifact.version !== version)
    throw new RegistryError('INVALID_MANIFEST', `${where}: version: the manifest says ${artifact.version}`);
  return artifact;
}
