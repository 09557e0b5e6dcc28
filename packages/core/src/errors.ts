/**
 * Small named errors with a stable `code` and an optional `cause`, in the manner of nats.js
 * `core/src/errors.ts`: callers branch on `instanceof` or on `code`, never on message text.
 */
export class GeomlError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Encoded bytes that cannot be decoded: truncated, oversized, corrupt, or of an unknown version. */
export class CodecError extends GeomlError<
  'TRUNCATED' | 'CORRUPT' | 'UNSUPPORTED' | 'TOO_LARGE' | 'INVALID'
> {}

/** A configuration object that does not match its schema; the message names the offending field. */
export class ConfigError extends GeomlError<'INVALID_CONFIG'> {
  /** Dotted paths of the fields that failed, e.g. `links.0.bandwidthMbps`. */
  readonly fields: string[];

  constructor(message: string, fields: string[], options?: { cause?: unknown }) {
    super('INVALID_CONFIG', message, options);
    this.fields = fields;
  }
}

/** A model artifact that is malformed, incomplete, or whose bytes do not match its sha256. */
export class ArtifactError extends GeomlError<'INVALID_MANIFEST' | 'HASH_MISMATCH' | 'MISSING_FILE'> {}

/** A tensor whose dtype, shape or data length do not agree. */
export class TensorError extends GeomlError<'SHAPE_MISMATCH' | 'UNSUPPORTED_DTYPE' | 'INVALID'> {}

/** A compute backend (tfjs, onnxruntime) that cannot be loaded or initialised. */
export class BackendError extends GeomlError<'UNAVAILABLE' | 'INIT_FAILED'> {}

/** Virtual time that cannot advance: every task waits, and nothing is scheduled to wake one. */
export class ClockError extends GeomlError<'DEADLOCK'> {}
