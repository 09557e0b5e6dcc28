import { GeomlError } from '@geoml/core';

/**
 * The selection layer could not do its work: `CONFLICT` when a state update lost the compare-and-set race
 * too many times in a row (other frontends keep writing the same key), `CORRUPT_STATE` when the stored
 * state is not a policy state.
 */
export class SelectionError extends GeomlError<'CONFLICT' | 'CORRUPT_STATE'> {}
