import type { ModelArtifact } from '@geoml/core';
import { RegistryError } from './errors.js';
import { parseManifestKey } from './model-registry-layout.js';
import type { KvEntry, KvWatch } from './transport.js';

export interface ModelWatchOptions {
  /**
   * Yield the newest valid version that exists when the watch starts, then newer ones. Default false:
   * only versions published after `watch()` resolves.
   */
  fromLatest?: boolean;
  /**
   * Called with a `RegistryError` (`INVALID_MANIFEST`) for each manifest the watch skips because it is
   * malformed; the watch goes on. Default: `process.emitWarning`.
   */
  onError?: (error: RegistryError) => void;
  /** Stops the watch when aborted, like `stop()`. */
  signal?: AbortSignal;
}

/**
 * New versions of one model, oldest first, each a validated manifest (fetch its files with
 * `registry.resolve(name, artifact.version)`). Versions only go up: a manifest rewritten under an
 * older version is ignored. Iteration ends after `stop()`; iterate it once.
 */
export interface ModelWatch extends AsyncIterable<ModelArtifact> {
  stop(): void;
}

export function reportTo(onError: ModelWatchOptions['onError']): (error: RegistryError) => void {
  return (error) => {
    try {
      if (onError) onError(error);
      else process.emitWarning(error);
    } catch {
      // A throwing callback must not end the watch it reports for.
    }
  };
}

/** Turns the kv watch of a model's manifest keys into a `ModelWatch` (see `ModelRegistry.watch`). */
export function modelWatch(
  name: string,
  kvWatch: KvWatch,
  start: {
    first: ModelArtifact | undefined;
    after: number;
    /** Decodes a manifest entry (`decodeManifest`, possibly remembered). */
    decode: (entry: KvEntry, version: number) => ModelArtifact;
  },
  options: ModelWatchOptions,
): ModelWatch {
  const report = reportTo(options.onError);
  let stopped = false;
  const stop = () => {
    stopped = true;
    options.signal?.removeEventListener('abort', stop);
    kvWatch.stop();
  };
  if (options.signal?.aborted) stop();
  else options.signal?.addEventListener('abort', stop, { once: true });

  async function* versions(): AsyncGenerator<ModelArtifact> {
    let last = start.after;
    try {
      if (start.first && !stopped) yield start.first;
      for await (const entry of kvWatch) {
        if (stopped) break;
        if (entry.operation !== 'PUT') continue;
        const key = parseManifestKey(entry.key);
        if (!key || key.name !== name) {
          report(
            new RegistryError('INVALID_MANIFEST', `${name}: key "${entry.key}" does not name a version`),
          );
          continue;
        }
        if (key.version <= last) continue;
        let artifact: ModelArtifact;
        try {
          artifact = start.decode(entry, key.version);
        } catch (e) {
          if (!(e instanceof RegistryError)) throw e;
          report(e);
          continue;
        }
        last = key.version;
        yield artifact;
      }
    } finally {
      stop();
    }
  }

  const iterable = versions();
  return {
    stop,
    [Symbol.asyncIterator]: () => iterable,
  };
}
