import type { SignificanceFilterOptions } from './significance-filter.js';
import type { ThresholdControllerOptions } from './threshold-controller.js';

/** How one shard's mirror is set up: whom it mirrors, over which subjects, and its ASP knobs. */
export interface MirrorOptions {
  readonly region: string;
  /** The regions holding the same keys that this shard mirrors directly: all others, or its group. */
  readonly peers: readonly string[];
  /** Overlay: the hub of the region's group (the region itself for a hub) and the other groups' hubs. */
  readonly overlay?: { readonly hub: string; readonly otherHubs: readonly string[] };
  /** Subject prefix of shard `k`'s mirror endpoint in `region`. */
  readonly subjectOf: (region: string) => string;
  /** Mirror-clock bound DS; `null`: no mirror clock (Gaia_Async). */
  readonly ds: number | null;
  /** Selective barrier on (Gaia) or off (Gaia_Async). */
  readonly barrier: boolean;
  /** Estimated queued bytes on a link above which indexes go ahead on the control lane (LinkBacklog). */
  readonly barrierBytes: number;
  readonly filter: SignificanceFilterOptions;
  readonly controller?: ThresholdControllerOptions;
  /** Added to the region clock for τ_t = τ0/√t (a resumed run continues its schedule). */
  readonly clockOffset?: number;
}
