import { GeomlError } from '@geoml/core';

/**
 * Why the serving core refused a call. Frontends map codes to HTTP: `UNKNOWN_*` → 404, `INVALID_INPUT` → 400,
 * `ALREADY_EXISTS` / `IN_USE` → 409, `CLOSED` → 503. A query that was accepted never throws: it is answered,
 * with the default output when needed.
 */
export class ServingError extends GeomlError<
  | 'UNKNOWN_APPLICATION'
  | 'UNKNOWN_MODEL'
  | 'UNKNOWN_VERSION'
  | 'ALREADY_EXISTS'
  | 'IN_USE'
  | 'INVALID_INPUT'
  | 'CLOSED'
> {}
