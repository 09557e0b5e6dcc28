import type { MirrorOptions, ResendOptions } from './mirror-options.js';
import { type OverlayGroup, overlayRole } from './overlay.js';
import type { KeyRange, ParameterLayout } from './param-layout.js';
import type { SyncPolicy } from './sync-policy.js';
import type { ThresholdRule } from './threshold-controller.js';
import type { ShardAddress } from './worker.js';

/** Training modes: Gaia's ASP variants and the baselines, all on the same engine. */
export type Mode = 'lan-bsp' | 'bsp' | 'ssp' | 'tap' | 'asp' | 'asp-async' | 'asp-int8';

export interface DeploymentInput {
  readonly run: string;
  readonly mode: Mode;
  readonly regions: readonly string[];
  readonly workersPerRegion: number;
  readonly shardsPerRegion: number;
  readonly layout: ParameterLayout;
  /** SSP bound for `ssp`, and for the intra-region policy of ASP modes when `intra` is `ssp`. */
  readonly staleness: number;
  readonly intra: 'bsp' | 'ssp';
  readonly ds: number;
  readonly tau0: number;
  readonly barrierBytes: number;
  /** Per-link WAN budget of the region (Mbit/s) for the threshold controller, and its rule. */
  readonly budgetMbps?: number;
  readonly budgetRule?: ThresholdRule;
  /** Clocks already trained (a resumed run): the significance schedule continues from there. */
  readonly clockOffset?: number;
  /** ASP modes: the overlay's groups (checked by `resolveOverlay`); absent: all-to-all mirroring. */
  readonly groups?: readonly OverlayGroup[];
  /** Loss recovery between regions; defaults: `resendDefaults`. */
  readonly resend?: Partial<ResendOptions>;
  /** The clock the run ends at (the resumed clocks included). */
  readonly lastClock?: number;
}

export interface ShardPlan {
  readonly subject: string;
  readonly range: KeyRange;
  readonly workers: readonly string[];
  readonly policy: SyncPolicy;
  readonly mirror?: MirrorOptions;
}

export interface WorkerPlan {
  readonly id: string;
  readonly inbox: string;
  /** Which data shard it trains on: `[region][worker]` of `Workload.shards()`. */
  readonly data: readonly [number, number];
  readonly shards: readonly ShardAddress[];
}

/** What runs in one region: the shards it hosts and the workers it runs. */
export interface RegionPlan {
  readonly region: string;
  readonly shards: ShardPlan[];
  readonly workers: WorkerPlan[];
}

/**
 * Places parameter-server shards and workers in regions for a mode. Every process of a multi-process
 * run computes the same plan from the same input, so they agree on subjects without talking.
 * - ASP modes: each region holds a full replica (its own key-range shards), its workers use only it,
 *   and each shard mirrors the same key range in the other regions (of its group, with an overlay).
 * - `bsp`/`ssp`/`tap`: one region-oblivious server whose shards are spread over the regions; every
 *   worker reads and updates all of them, across the WAN.
 * - `lan-bsp`: every worker and shard in the first region.
 */
export function planDeployment(input: DeploymentInput): RegionPlan[] {
  const { run, mode, layout, workersPerRegion: W, shardsPerRegion: K } = input;
  const regions = mode === 'lan-bsp' ? [input.regions[0] as string] : [...input.regions];
  const plans = new Map<string, RegionPlan>(regions.map((r) => [r, { region: r, shards: [], workers: [] }]));
  const at = (r: string) => plans.get(r) as RegionPlan;
  const workerId = (r: number, w: number) => `r${r}w${w}`;
  const inbox = (id: string) => `gaia.${run}.inbox.${id}`;
  const R = input.regions.length;
  const allWorkers: string[] = [];
  for (let r = 0; r < R; r++) for (let w = 0; w < W; w++) allWorkers.push(workerId(r, w));

  if (mode === 'asp' || mode === 'asp-async' || mode === 'asp-int8') {
    const ranges = layout.ranges(K);
    const policy: SyncPolicy =
      input.intra === 'ssp' ? { kind: 'ssp', staleness: input.staleness } : { kind: 'bsp' };
    input.regions.forEach((region, r) => {
      const local = allWorkers.slice(r * W, (r + 1) * W);
      const role = input.groups ? overlayRole(input.groups, region) : undefined;
      const addresses: ShardAddress[] = ranges.map((range, k) => ({
        subject: `gaia.${run}.ps.${token(region)}.${k}`,
        region,
        range,
      }));
      ranges.forEach((range, k) => {
        const mirror: MirrorOptions = {
          region,
          peers: role ? role.groupPeers : input.regions.filter((p) => p !== region),
          ...(role ? { overlay: { hub: role.hub, otherHubs: role.otherHubs } } : {}),
          subjectOf: (p) => `gaia.${run}.m.${token(p)}.${k}`,
          ds: mode === 'asp-async' ? null : input.ds,
          barrier: mode !== 'asp-async',
          barrierBytes: input.barrierBytes,
          filter: { tau0: input.tau0, encoding: mode === 'asp-int8' ? 'int8' : 'float32' },
          clockOffset: input.clockOffset ?? 0,
          ...(input.resend ? { resend: input.resend } : {}),
          ...(input.lastClock !== undefined ? { lastClock: input.lastClock } : {}),
          // Each shard's mirror sends on the same links: it gets its share of the region's budget
          // (the authors divide `wan_bandwidth_limit` by their channel count the same way).
          ...(input.budgetMbps
            ? {
                controller: {
                  budgetMbps: input.budgetMbps / ranges.length,
                  ...(input.budgetRule ? { rule: input.budgetRule } : {}),
                },
              }
            : {}),
        };
        at(region).shards.push({
          subject: addresses[k]?.subject as string,
          range,
          workers: local,
          policy,
          mirror,
        });
      });
      for (let w = 0; w < W; w++) {
        const id = workerId(r, w);
        at(region).workers.push({ id, inbox: inbox(id), data: [r, w], shards: addresses });
      }
    });
    return [...plans.values()];
  }

  const policy: SyncPolicy =
    mode === 'ssp'
      ? { kind: 'ssp', staleness: input.staleness }
      : mode === 'tap'
        ? { kind: 'tap' }
        : { kind: 'bsp' };
  const ranges = layout.ranges(K * regions.length);
  const addresses: ShardAddress[] = ranges.map((range, j) => ({
    subject: `gaia.${run}.ps.global.${j}`,
    region: regions[Math.floor(j / K)] as string,
    range,
  }));
  for (const a of addresses)
    at(a.region).shards.push({ subject: a.subject, range: a.range, workers: allWorkers, policy });
  for (let r = 0; r < R; r++) {
    for (let w = 0; w < W; w++) {
      const id = workerId(r, w);
      at(mode === 'lan-bsp' ? (regions[0] as string) : (input.regions[r] as string)).workers.push({
        id,
        inbox: inbox(id),
        data: [r, w],
        shards: addresses,
      });
    }
  }
  return [...plans.values()];
}

/** A region name as one subject token. */
function token(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}
