import { ContainerError } from '../errors.js';
import { ServingError } from '../serving-error.js';

/** A request the frontend refuses: its status and a message that names the problem. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const SERVING_STATUS: Record<ServingError['code'], number> = {
  UNKNOWN_APPLICATION: 404,
  UNKNOWN_MODEL: 404,
  UNKNOWN_VERSION: 404,
  ALREADY_EXISTS: 409,
  IN_USE: 409,
  INVALID_INPUT: 400,
  CLOSED: 503,
};

/** Maps any error to a status and message; unknown errors are 500 and never leak a stack. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ServingError) return new HttpError(SERVING_STATUS[err.code], err.message);
  if (err instanceof ContainerError && err.code === 'BAD_INPUT') return new HttpError(400, err.message);
  if (err instanceof Error && err.name === 'ConfigError') return new HttpError(400, err.message);
  return new HttpError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
