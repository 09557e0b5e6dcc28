import { resolve as resolvePath } from 'node:path';

/**
 * Model bytes with the sha256 they must hash to (a model registry's file): the worker thread hashes the
 * bytes it builds the session from and refuses them (`ContainerError` `HASH_MISMATCH`) unless they
 * match. Bytes in shared memory (`ModelRegistry.fetch` from an in-process store) reach the worker
 * without being copied on the calling thread.
 */
export interface OnnxModelBlob {
  readonly bytes: Uint8Array;
  /** Hex sha256. */
  readonly sha256: string;
}

/** A model as bytes, as bytes to check against their sha256, or as a path to a `.onnx` file. */
export type OnnxModelSource = Uint8Array | OnnxModelBlob | string;

/** A source checked by `load`: a resolved path, bytes, or bytes with their sha256. */
export type Source = string | { readonly bytes: Uint8Array; readonly sha256?: string };

/** `model` as `load` keeps it, or undefined when it is not a model at all. */
export function sourceOf(model: OnnxModelSource): Source | undefined {
  if (typeof model === 'string') return model.length > 0 ? resolvePath(model) : undefined;
  if (model instanceof Uint8Array) return model.byteLength > 0 ? { bytes: model } : undefined;
  const { bytes, sha256 } = (model ?? {}) as Partial<OnnxModelBlob>;
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) return undefined;
  return typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) ? { bytes, sha256 } : undefined;
}
