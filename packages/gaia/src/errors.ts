import { GeomlError } from '@geoml/core';

/**
 * A training failure of the Gaia engine: `DIVERGED` (training diverged: the model's step or its quality
 * went non-finite; the message names the clock and what to lower), `NON_FINITE_UPDATE` (an update holding
 * NaN or Inf, rejected before it touches any replica), `INVALID_UPDATE` (names, shapes or indexes that do
 * not fit the model), `PROTOCOL` (a malformed message between regions), `STOPPED` (work cut short because
 * the run stopped), `LINK_LOST` (a peer region silent past the give-up time while data to it went
 * unacknowledged; the message names both regions and the link).
 */
export class GaiaError extends GeomlError<
  'DIVERGED' | 'NON_FINITE_UPDATE' | 'INVALID_UPDATE' | 'PROTOCOL' | 'STOPPED' | 'LINK_LOST'
> {}
