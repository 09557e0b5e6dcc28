import { z } from 'zod';
import { resendDefaults } from './mirror-options.js';
import { overlaySchema } from './overlay.js';
import type { Workload } from './workload.js';

const isWorkload = (v: unknown): v is Workload =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Workload).shards === 'function' &&
  typeof (v as Workload).model?.computeUpdate === 'function' &&
  typeof (v as Workload).batchSize === 'number';

/** The emulated topologies of `@geoml/transport`, or explicit regions with no emulated network. */
const topologySchema = z.union([
  z.enum(['lan', 'vc', 'ss', 'ec2-11']),
  z.object({ regions: z.array(z.string().min(1)).min(1) }).strict(),
]);

/**
 * Configuration of `train()`. Only `workload` and `mode` are required; see each field. Validated with
 * `parseConfig`, so a bad field is named in the `ConfigError`.
 */
export const trainConfigSchema = z
  .object({
    /** The model and its data, e.g. `createMatrixFactorization(...)`. */
    workload: z.custom<Workload>(isWorkload, { message: 'expected a Workload (model, shards(), batchSize)' }),
    mode: z.enum(['lan-bsp', 'bsp', 'ssp', 'tap', 'asp', 'asp-async', 'asp-int8']),
    /** Network profile (regions and WAN links) or plain region names without a network. */
    topology: topologySchema.default('ss'),
    /** Options of the network profile, e.g. `{ wanScale: 0.5 }` (see `topologyProfile`). */
    profileOptions: z.record(z.string(), z.unknown()).optional(),
    /** Use only the first `regions` regions of the topology. */
    regions: z.number().int().min(1).optional(),
    workersPerRegion: z.number().int().min(1).max(64).default(2),
    /** Parameter-server shards per region (key ranges). */
    shardsPerRegion: z.number().int().min(1).max(64).default(1),
    split: z.enum(['iid', 'skewed']).default('iid'),
    /** SSP bound s for `ssp` (and for `intra: 'ssp'`). */
    staleness: z.number().int().min(0).default(2),
    /** Sync inside a region under ASP modes. */
    intra: z.enum(['bsp', 'ssp']).default('bsp'),
    /** Mirror-clock bound DS (0 in every configuration the authors shipped). */
    ds: z.number().int().min(0).default(0),
    /**
     * ASP modes: `'none'` (each region mirrors every other), `'gaia-ec2-11'` (the authors' three groups of
     * the 11 EC2 regions) or `{ groups: [{ hub, members }] }`: regions mirror their group directly and
     * hubs exchange their groups' aggregated significant updates (reference/gaia.md §1.6).
     */
    overlay: overlaySchema.default('none'),
    /** Initial significance threshold τ0 (relative change); τ_t = τ0/√t. */
    tau0: z.number().min(0).max(10).default(0.01),
    /**
     * Estimated queued bytes on a WAN link (sent, not yet acknowledged, beyond what the link was seen to
     * carry in flight without delay) above which the selective barrier announces indexes first.
     */
    barrierBytes: z.number().int().min(0).default(65_536),
    /**
     * Per-link WAN budget (Mbit/s) of each region: a controller raises the significance threshold above
     * τ0/√t (never below it) to hold every outgoing link near it; absent: τ0/√t alone. See docs/training.md.
     */
    budgetMbps: z.number().positive().optional(),
    /**
     * How the controller moves the threshold: `ratio` (by the measured bytes / budget, multiplicatively,
     * within a few clocks) or `step` (the authors' ±0.005 per clock).
     */
    budgetRule: z.enum(['ratio', 'step']).default('ratio'),
    /** Compute cost per step, from `calibrate()`; measured at start when absent. */
    costModel: z
      .object({
        stepMs: z.number().min(0),
        batchSize: z.number().int().positive(),
        measuredOn: z.string().optional(),
        samples: z.number().int().optional(),
        /** What `calibrate` timed: process CPU time or elapsed time (kept with the results). */
        clock: z.enum(['cpu', 'wall']).optional(),
      })
      .optional(),
    stop: z
      .object({
        /** Iterations per worker. */
        maxClocks: z.number().int().min(1).max(1_000_000).default(100),
        /** Quality to reach (`rmse` lower, accuracy higher: the workload's metric decides). */
        targetQuality: z.number().optional(),
        /** Stop after this much (virtual or wall) time. */
        maxTimeS: z.number().positive().optional(),
        /** End the run once the target is reached. */
        atTarget: z.boolean().default(true),
      })
      .strict()
      .default({ maxClocks: 100, atTarget: true }),
    /** Evaluate the (first region's) replica every N global clocks. */
    evalEvery: z.number().int().min(1).default(5),
    seed: z.number().int().default(1),
    /** `virtual`: deterministic discrete-event time; `wall`: real time. */
    time: z.enum(['virtual', 'wall']).default('virtual'),
    /**
     * Loss recovery between regions (NATS core may drop messages, e.g. across a server restart): what
     * is not acknowledged within a timeout (4 × the longest acknowledgement delay seen on the link, at
     * least `minTimeoutMs`; `initialTimeoutMs` before the first) is sent again, and a peer region silent
     * for `giveUpS` while data to it waits ends the run with `GaiaError` `LINK_LOST` (docs/training.md,
     * "Lost messages between regions"). Times are of the run's clock (virtual or wall).
     */
    resend: z
      .object({
        minTimeoutMs: z.number().positive().default(resendDefaults.minMs),
        initialTimeoutMs: z.number().positive().default(resendDefaults.initialMs),
        giveUpS: z
          .number()
          .positive()
          .default(resendDefaults.giveUpMs / 1000),
      })
      .strict()
      .prefault({}),
    /** What a NaN/Inf update does: end the run with `GaiaError`, or be dropped and counted. */
    onBadUpdate: z.enum(['fail', 'skip']).default('fail'),
    /** Subject namespace of the run (several runs may share a transport). */
    run: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('run'),
  })
  .strict();

export type TrainConfig = z.output<typeof trainConfigSchema>;
export type TrainConfigInput = z.input<typeof trainConfigSchema>;
