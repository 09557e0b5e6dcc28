import type { Quality } from '@geoml/core';
import { GaiaError } from './errors.js';
import type { TrainConfig } from './train-config.js';

/**
 * What to lower when training diverges, from the run's staleness. Under ASP with DS > 0 every region
 * computes DS + 1 clocks of steps before it sees the others' steps of those clocks, and they then add
 * up: with many regions and large steps the shared parameters overshoot further each round (MF on
 * ec2-11 at DS 4: the item factors swing ×2 per 5 clocks until an SGD step overflows).
 */
export function divergenceAdvice(cfg: TrainConfig, regions: number): string {
  const lr = 'or the learning rate';
  if (cfg.mode === 'asp-async') {
    return `asp-async bounds no staleness across the ${regions} regions: use asp with a small ds, ${lr}`;
  }
  if (cfg.mode.startsWith('asp') && cfg.ds > 0) {
    return (
      `replicas lag each other by up to ds = ${cfg.ds} clocks across ${regions} regions, so ${cfg.ds + 1} ` +
      `clocks of every region's steps add up unseen: lower ds (0: each read sees every region's previous clock) ${lr}`
    );
  }
  if (cfg.mode === 'ssp' || cfg.mode === 'tap' || cfg.intra === 'ssp') {
    return `lower the staleness (${cfg.staleness}) ${lr}`;
  }
  return 'lower the learning rate';
}

/** `error` with the run's advice appended when it is a divergence; any other error as it is. */
export function withDivergenceAdvice(error: unknown, cfg: TrainConfig, regions: number): unknown {
  if (!(error instanceof GaiaError && error.code === 'DIVERGED')) return error;
  return new GaiaError('DIVERGED', `${error.message}; ${divergenceAdvice(cfg, regions)}`, {
    cause: error.cause ?? error,
  });
}

/** `GaiaError` `DIVERGED` when an evaluated quality is not finite, else `undefined`. */
export function divergedQuality(
  quality: Quality,
  clock: number,
  cfg: TrainConfig,
  regions: number,
): GaiaError | undefined {
  if (Number.isFinite(quality.value)) return undefined;
  return new GaiaError(
    'DIVERGED',
    `the model diverged: its ${quality.metric} is ${quality.value} at clock ${clock}; ${divergenceAdvice(cfg, regions)}`,
  );
}
