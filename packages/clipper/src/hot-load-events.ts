import { GeomlError } from '@geoml/core';
import type { LiveCanaryReport } from './live-canary.js';

/** Where a hot load failed; the version never replaced the serving one (except `drain`, after the swap). */
export type HotLoadStage = 'watch' | 'resolve' | 'load' | 'warm-up' | 'canary' | 'swap' | 'drain';

/** What the hot-loader reports, one event per step of a version's way to serving. */
export type HotLoadEvent =
  /** A version was announced (or requested) and is being fetched and loaded. */
  | { readonly type: 'loading'; readonly model: string; readonly version: string }
  /** Its replicas are loaded, warmed up and deployed dark (not yet serving). */
  | {
      readonly type: 'loaded';
      readonly model: string;
      readonly version: string;
      readonly replicas: number;
      /** From `loading` to `loaded`, in clock ms. */
      readonly loadMs: number;
    }
  /**
   * A live canary (`canaryShare`) started, or passed: the new version took that share of live traffic;
   * `report` gives both versions' answers while it ran. A refused canary is a `failed` event (stage `canary`).
   */
  | {
      readonly type: 'canary';
      readonly model: string;
      readonly version: string;
      readonly share: number;
      readonly phase: 'started' | 'passed';
      readonly report?: LiveCanaryReport;
    }
  /** The version now serves every new query; `from` (if any) finishes what it had queued. */
  | {
      readonly type: 'swapped';
      readonly model: string;
      readonly from: string | undefined;
      readonly to: string;
    }
  /** A rollback made an older version the serving one again. */
  | {
      readonly type: 'rolled-back';
      readonly model: string;
      readonly from: string | undefined;
      readonly to: string;
    }
  /** An old version drained and its replicas were disposed. */
  | { readonly type: 'disposed'; readonly model: string; readonly version: string }
  /** A version announced while a newer one was already waiting was passed over. */
  | { readonly type: 'skipped'; readonly model: string; readonly version: string; readonly newer: string }
  /** A step failed; the serving version did not change (for `drain`: the old version was removed anyway). */
  | {
      readonly type: 'failed';
      readonly model: string;
      readonly version: string | undefined;
      readonly stage: HotLoadStage;
      readonly error: Error;
    };

export type HotLoadEventType = HotLoadEvent['type'];

/**
 * The counter hook a frontend wires to its metrics (see `HotLoadCounters` for Prometheus). Called once per
 * event; must be cheap and must not throw (a throwing hook is ignored).
 */
export interface HotLoadMetrics {
  hotLoad?(event: HotLoadEvent): void;
}

/** Why a hot-loader call was refused or a requested load or rollback did not happen. */
export class HotLoadError extends GeomlError<
  /** The model is not watched by this hot-loader. */
  | 'NOT_WATCHED'
  /** The model is already watched. */
  | 'ALREADY_WATCHED'
  /** A rollback without a version, but no earlier version has served. */
  | 'NO_PREVIOUS'
  /** The hot-loader (or this model's watch) was stopped. */
  | 'STOPPED'
  /** The version could not be resolved, loaded, warmed up or verified; `cause` says why. */
  | 'INSTALL_FAILED'
  /** The version did worse than the serving one on its live canary share (`CanaryRefused`). */
  | 'CANARY_REFUSED'
> {}

/** Calls every listener, ignoring a listener's own failure so reporting never breaks a swap. */
export function report(
  listeners: Iterable<(event: HotLoadEvent) => void>,
  metrics: HotLoadMetrics | undefined,
  event: HotLoadEvent,
): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch {
      // A broken listener must not stop the hot-loader.
    }
  }
  try {
    metrics?.hotLoad?.(event);
  } catch {
    // Likewise a broken metrics sink.
  }
}
