import { webcrypto } from 'node:crypto';
import { labelOf, type ModelArtifact } from '@geoml/core';
import { RegistryError } from './errors.js';
import { copyBytes } from './in-process-copy.js';

/** A resolved version: its manifest and every file's bytes, each checked against its sha256. */
export interface ResolvedArtifact {
  artifact: ModelArtifact;
  files: Record<string, Uint8Array>;
}

/** One file of a version as the store holds it, of the manifest's size but not yet hashed. */
export interface StoredFile {
  readonly path: string;
  readonly size: number;
  /** What the bytes must hash to (hex), from the manifest. */
  readonly sha256: string;
  /**
   * The bytes: the store's own memory when it can share it (`shared`: a read-only view of a
   * `SharedArrayBuffer`, see `BlobStore.share`), else a private copy.
   */
  readonly bytes: Uint8Array;
  readonly shared: boolean;
}

/**
 * A version's manifest and its files as stored (`ModelRegistry.fetch`). Nothing has been hashed yet:
 * whoever reads a file checks it against its `sha256` first, on the bytes it goes on to use —
 * `verifyFiles` here, or a worker thread that copies shared bytes, hashes its copy and builds from it.
 */
export interface FetchedArtifact {
  readonly artifact: ModelArtifact;
  readonly files: Readonly<Record<string, StoredFile>>;
}

/**
 * Checks every file of `fetched` against its sha256 and returns private bytes (shared ones copied
 * first, so the bytes checked are the bytes returned and nobody else can change them). `RegistryError`
 * `HASH_MISMATCH` naming the file when one does not match.
 */
export async function verifyFiles(fetched: FetchedArtifact): Promise<ResolvedArtifact> {
  const files: Record<string, Uint8Array> = {};
  await Promise.all(
    Object.values(fetched.files).map(async (file) => {
      const bytes = file.shared ? copyBytes(file.bytes) : file.bytes;
      await checkBlob(fetched.artifact, file, bytes);
      files[file.path] = bytes;
    }),
  );
  return { artifact: fetched.artifact, files };
}

/** `RegistryError` `HASH_MISMATCH` unless `bytes` have the size `file` names (checked before hashing). */
export function checkSize(artifact: ModelArtifact, file: { path: string; size: number }, bytes: Uint8Array) {
  if (bytes.byteLength !== file.size)
    throw new RegistryError(
      'HASH_MISMATCH',
      `${labelOf(artifact)}: file "${file.path}" has ${bytes.byteLength} bytes, the manifest says ${file.size}`,
    );
}

/**
 * Refuses `bytes` unless they have the size and sha256 `file` names. The digest is WebCrypto's, which
 * hashes on libuv's thread pool (it copies its input on the calling thread first, and refuses views of
 * shared memory, which `verifyFiles` has copied already).
 */
async function checkBlob(
  artifact: ModelArtifact,
  file: { path: string; size: number; sha256: string },
  bytes: Uint8Array,
): Promise<void> {
  checkSize(artifact, file, bytes);
  const digest = new Uint8Array(await webcrypto.subtle.digest('SHA-256', bytes));
  const actual = Buffer.from(digest).toString('hex');
  if (actual !== file.sha256)
    throw new RegistryError(
      'HASH_MISMATCH',
      `${labelOf(artifact)}: file "${file.path}" has sha256 ${actual}, the manifest says ${file.sha256}`,
    );
}
