import { GeomlError } from '@geoml/core';

export type TransportErrorCode =
  | 'NO_RESPONDERS'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'BAD_SUBJECT'
  | 'WRONG_REVISION'
  | 'CONNECTION'
  | 'TOO_LARGE'
  | 'SERVER';

/** A failure of a transport operation; `cause` holds the underlying client error, if any. */
export class TransportError extends GeomlError<TransportErrorCode> {}

/**
 * A model registry failure: unknown model or version, bad manifest, missing blob, hash mismatch;
 * `INVALID_ARGUMENT` for a malformed name or version asked for, `CONFLICT` when a publisher could not
 * claim a version after many concurrent attempts.
 */
export class RegistryError extends GeomlError<
  'NOT_FOUND' | 'INVALID_MANIFEST' | 'MISSING_BLOB' | 'HASH_MISMATCH' | 'INVALID_ARGUMENT' | 'CONFLICT'
> {}
