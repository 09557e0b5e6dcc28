import { GeomlError } from '@geoml/core';

/** Why a model container failed a call; the scheduler branches on `code` to retry, default or give up. */
export type ContainerErrorCode =
  /** The container's worker died (exit, uncaught error, out of memory); it is being replaced. */
  | 'CRASHED'
  /** The model could not be loaded (bad bytes, missing file, unsupported ops). */
  | 'LOAD_FAILED'
  /** The model's bytes do not hash to the sha256 they came with (a registry file changed in store). */
  | 'HASH_MISMATCH'
  /** An input has an unknown or missing name, or the wrong dtype or shape; the container is unharmed. */
  | 'BAD_INPUT'
  /** The model answered a batch with the wrong number of outputs (or none at all). */
  | 'BAD_OUTPUT'
  /** The container was disposed. */
  | 'DISPOSED'
  /** A load or a batch took longer than its configured bound; the container restarts its worker. */
  | 'TIMEOUT';

/** A model container (a `Predictor`) that could not answer a call. */
export class ContainerError extends GeomlError<ContainerErrorCode> {
  /** For `BAD_INPUT`: the offending input's name, when one input is to blame. */
  readonly input: string | undefined;

  constructor(code: ContainerErrorCode, message: string, options?: { cause?: unknown; input?: string }) {
    super(code, message, options);
    this.input = options?.input;
  }
}
