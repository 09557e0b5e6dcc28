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

/**
 * Largest manifest the registry writes or reads: NATS's default `max_payload` (1 MiB), so a manifest
 * that one transport accepts is accepted by all. Big things belong in files, not in metadata.
 */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export function encodeManifest(artifact: ModelArtifact): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(artifact));
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    throw new RegistryError(
      'INVALID_MANIFEST',
      `${artifact.name}: the manifest is ${bytes.byteLength} bytes, more than ${MAX_MANIFEST_BYTES}; move large metadata into a file`,
    );
  return bytes;
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
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    throw new RegistryError(
      'INVALID_MANIFEST',
      `${where}: the manifest is ${bytes.byteLength} bytes, more than ${MAX_MANIFEST_BYTES}`,
    );
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
    // Validation is pure: whatever it throws comes from the bytes, so it is the manifest's fault.
    const message = e instanceof ArtifactError ? e.message : `unreadable manifest: ${String(e)}`;
    throw new RegistryError('INVALID_MANIFEST', `${where}: ${message}`, { cause: e });
  }
  if (artifact.name !== name)
    throw new RegistryError('INVALID_MANIFEST', `${where}: name: the manifest says "${artifact.name}"`);
  if (artifact.version !== version)
    throw new RegistryError('INVALID_MANIFEST', `${where}: version: the manifest says ${artifact.version}`);
  return artifact;
}
