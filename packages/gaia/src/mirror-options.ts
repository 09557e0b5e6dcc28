import type { ResendTiming } from './resend-queue.js';
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
  /** Loss recovery between regions (`ResendQueue`); defaults: `resendDefaults`. */
  readonly resend?: Partial<ResendOptions>;
  /** The clock every region ends at, when known: no resends to a peer that reached it. */
  readonly lastClock?: number;
}

/** Loss recovery timing, all in ms of the run's clock. */
export interface ResendOptions extends ResendTiming {
  /** A peer silent this long while data to it is unacknowledged is given up on (`LINK_LOST`). */
  readonly giveUpMs: number;
}

/**
 * The floor is TCP's minimum RTO (RFC 6298); before any acknowledgement, three times that, as a first
 * dense shipment over a slow WAN link can take seconds to drain; two minutes of silence ends the run.
 */
export const resendDefaults: ResendOptions = { minMs: 1000, initialMs: 3000, giveUpMs: 120_000 };
