import { GeomlError } from '@geoml/core';

/**
 * A usage mistake the user can fix (unknown flag, missing argument, unreadable file): printed as one
 * line with exit code 2, as Unix tools do for bad usage, without a stack trace.
 */
export class CliError extends GeomlError<'USAGE'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', message, options);
  }
}
