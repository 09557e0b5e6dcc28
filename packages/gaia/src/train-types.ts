import type { Clock, Quality, TensorMap } from '@geoml/core';
import type { Network, Transport } from '@geoml/transport';
import type { CostModelSpec } from './cost-model.js';
import type { LinkTraffic } from './link-meter.js';
import type { BlockedTime } from './shard-server.js';
import type { TrainConfig } from './train-config.js';
import type { LayoutCounts } from './update-coding.js';

/** One evaluation of the first region's replica. */
export interface QualityPoint {
  /** Global clock: the slowest worker's iteration count. */
  readonly clock: number;
  readonly timeS: number;
  readonly value: number;
}

/** What `train()` reports after each evaluation. */
export interface ProgressEvent {
  readonly clock: number;
  readonly timeS: number;
  readonly quality: Quality;
  readonly wanBytes: number;
  readonly links: readonly LinkTraffic[];
  readonly blocked: BlockedTime;
  /** Shipped / accumulated update entries over all mirrors (ASP modes; 1 otherwise). */
  readonly fractionShipped: number;
  /**
   * With `budgetMbps`: the largest raise of the significance threshold above τ0/√t over the mirrors
   * (0: the budget does not bind); absent without a budget.
   */
  readonly thresholdRaise?: number;
}

export interface TrainResult {
  readonly mode: TrainConfig['mode'];
  readonly regions: readonly string[];
  readonly workersPerRegion: number;
  readonly params: number;
  readonly reachedTarget: boolean;
  /** Seconds (virtual or wall) until the target quality was first measured; null if never. */
  readonly timeToTargetS: number | null;
  readonly elapsedS: number;
  readonly clocks: { readonly min: number; readonly max: number };
  readonly finalQuality: Quality;
  readonly series: readonly QualityPoint[];
  /** WAN traffic (both lanes, links between different regions), from the network when it counts. */
  readonly wanBytes: number;
  readonly wanMessages: number;
  /** Per directed link, as the engine sent it. */
  readonly links: readonly LinkTraffic[];
  readonly fractionShipped: number;
  /** ASP modes: mirror messages shipped in each wire layout (sparse pairs, bitmap, dense). */
  readonly encodings?: LayoutCounts;
  /**
   * ASP modes: selective-barrier announcements sent (index lists ahead of queued updates, one per
   * congested link and shipment).
   */
  readonly announcements?: number;
  /**
   * ASP modes: messages sent again — mirrors' data messages after a timeout (lost by the transport, or
   * acknowledged late), workers' updates and reads after the transport reconnected — and copies that
   * arrived twice and were dropped. Both 0 on a loss-free network.
   */
  readonly resent?: { readonly messages: number; readonly duplicates: number };
  /** Fraction of workers' update entries that changed their parameter by less than 1 %. */
  readonly fractionBelowOnePercent: number;
  readonly blocked: BlockedTime;
  readonly rejectedUpdates: number;
  readonly costModel: CostModelSpec;
  readonly ds: number;
  readonly tau0: number;
  /** The first region's final replica. */
  readonly model: TensorMap;
}

export interface TrainOptions {
  onProgress?: (event: ProgressEvent) => void;
  /** Connection for a region; default: one in-process hub over the emulated topology. */
  connect?: (region: string) => Transport;
  /** Network for the default hub when `topology` lists plain regions. */
  network?: Network;
  clock?: Clock;
  /**
   * Run only these regions here, for one process per region (over NATS): every process calls
   * `train()` with the same config and its own region. ASP modes only; stop by `maxClocks`.
   */
  regions?: readonly string[];
  /**
   * Continue from a checkpoint: its parameters replace `model.init()`, workers draw fresh batches,
   * and the τ0/√t schedule and reported clocks go on from `clock`.
   */
  resume?: { params: TensorMap; clock: number };
  /** Called with each evaluated snapshot of the judged replica: a checkpoint to keep. */
  checkpoint?: (c: { clock: number; timeS: number; params: TensorMap }) => void | Promise<void>;
}
