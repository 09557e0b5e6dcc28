import type { ModelArtifact } from '@geoml/core';
import { decodeManifest } from './model-registry-layout.js';
import type { KvEntry } from './transport.js';

/** Manifests remembered; a registry follows a few models, each read a few times per version. */
const MAX_MANIFESTS = 64;

/**
 * Manifests already decoded, by kv key and stored bytes. A hot-loader reads each new version's manifest
 * twice (its watch sees it, then resolving it reads it again), and validating one cost ~0.5 ms of the
 * serving main thread: its schema's code runs once per version, so it never gets fast. The same bytes
 * under the same key decode to the same manifest; every caller gets its own copy.
 */
export class ManifestCache {
  private readonly entries = new Map<string, { bytes: Uint8Array; artifact: ModelArtifact }>();

  /** `decodeManifest` of `entry`, from memory when its key last held the same bytes. */
  decode(entry: Pick<KvEntry, 'key' | 'value'>, name: string, version: number): ModelArtifact {
    const hit = this.entries.get(entry.key);
    if (hit && sameBytes(hit.bytes, entry.value)) return structuredClone(hit.artifact);
    const artifact = decodeManifest(entry.value, name, version);
    this.entries.delete(entry.key);
    this.entries.set(entry.key, { bytes: entry.value.slice(), artifact: structuredClone(artifact) });
    if (this.entries.size > MAX_MANIFESTS) this.entries.delete(this.entries.keys().next().value as string);
    return artifact;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}
