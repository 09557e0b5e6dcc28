import { z } from 'zod';

/**
 * Configuration of model deployments and of the serving core, as zod schemas (the schema's output type is
 * the config type). Parse through core `parseConfig`, so a bad field reads `invalid model deployment:
 * batching.maxBatchSize: ...`.
 */

/** Names appear in URLs (`/<app>/predict`, `/v2/models/<m>`), so they stay URL-path safe. */
export const nameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    'use letters, digits, "_", "." and "-", starting with a letter or digit',
  );

/** What an application's queries carry; a query of another kind is refused with `INVALID_INPUT`. */
export const inputTypeSchema = z.enum(['tensor', 'json', 'bytes', 'string']);
export type InputType = z.output<typeof inputTypeSchema>;

/** Batch sizes count rows: a multi-row query fills as many places as it has rows. */
const batchSize = z.int().min(1).max(65_536);
/** Fraction of the batch size kept on a latency miss: 0.9 backs off by 10% (Clipper's paper). */
const backoffFactor = z.number().gt(0).lt(1).default(0.9);

/** A fixed batch size; `batchSize: 1` is "no batching". */
export const staticBatchingSchema = z.strictObject({
  mode: z.literal('static'),
  batchSize: batchSize.default(1),
});

/** Additive increase while the measured batch latency fits the budget, multiplicative back-off on a miss. */
export const aimdBatchingSchema = z.strictObject({
  mode: z.literal('aimd'),
  maxBatchSize: batchSize.default(256),
  initialBatchSize: batchSize.default(1),
  additiveIncrease: z.int().min(1).max(1024).default(1),
  backoffFactor,
  /** Double the size until the first miss (TCP's slow start), then add: reaches large sizes quickly. */
  slowStart: z.boolean().default(true),
});

/** The largest size whose predicted latency quantile (a linear fit on recent batches) fits the budget. */
export const quantileBatchingSchema = z.strictObject({
  mode: z.literal('quantile'),
  maxBatchSize: batchSize.default(256),
  /** The latency quantile that must fit the budget. */
  quantile: z.number().min(0.5).lt(1).default(0.99),
  /** Recent (batch size, latency) samples kept for the fit. */
  window: z.int().min(10).max(100_000).default(500),
  /** Samples needed before the fit is trusted; until then the size grows as in AIMD. */
  minSamples: z.int().min(2).max(100_000).default(30),
  additiveIncrease: z.int().min(1).max(1024).default(1),
  backoffFactor,
});

/** Waits up to `maxDelayMs` (from the oldest query's arrival) for a fuller batch when the queue is short. */
export const delayedBatchingSchema = z.strictObject({
  mode: z.literal('delayed'),
  maxBatchSize: batchSize.default(32),
  maxDelayMs: z.number().min(0).max(60_000).default(2),
  /** How the batch size itself is chosen: fixed at `maxBatchSize`, or adapted by AIMD up to it. */
  sizing: z.enum(['static', 'aimd']).default('static'),
});

export const batchingSchema = z.discriminatedUnion('mode', [
  staticBatchingSchema,
  aimdBatchingSchema,
  quantileBatchingSchema,
  delayedBatchingSchema,
]);
export type BatchingConfig = z.output<typeof batchingSchema>;
export type BatchingInput = z.input<typeof batchingSchema>;
export type BatchingMode = BatchingConfig['mode'];

/** One deployed model version: its replicas, how they batch, its queue bound and whether it is cached. */
export const modelDeploymentSchema = z.strictObject({
  name: nameSchema,
  version: z.string().min(1).max(128),
  /** Number of replicas (the length of the predictor list, or how many the factory makes). */
  replicas: z.int().min(1).max(1024).default(1),
  batching: batchingSchema.prefault({ mode: 'aimd' }),
  /**
   * Queue bound, in rows (a query counts 1, a multi-row query its rows); a query arriving with no room
   * gets the default output at once.
   */
  maxQueueLength: z.int().min(1).max(10_000_000).default(1024),
  /** Whether outputs are cached (and identical concurrent queries share one execution). */
  cache: z.boolean().default(true),
  /**
   * A batch may take half its queries' latency objective (one batch waiting while one runs) times this
   * factor; the slack absorbs latency noise and the trip back to the caller (Clipper v2 uses 0.92).
   * Admission control keeps the same slack.
   */
  budgetDecay: z.number().gt(0).max(1).default(0.92),
  /** When set, linking to an application of another input type is refused. */
  inputType: inputTypeSchema.optional(),
  /** Make this version the serving one on deploy (Clipper's behaviour); false deploys it dark. */
  activate: z.boolean().default(true),
  /** Free-form facts shown with the version (e.g. the OIP input/output signatures a frontend serves). */
  metadata: z.record(z.string(), z.unknown()).default({}),
});
export type ModelDeployment = z.output<typeof modelDeploymentSchema>;
export type ModelDeploymentInput = z.input<typeof modelDeploymentSchema>;

/** Serving-core settings; every field has a default. */
export const clipperConfigSchema = z.strictObject({
  cache: z
    .strictObject({
      maxEntries: z.int().min(1).max(100_000_000).default(10_000),
      /** Byte budget of cached outputs (Clipper's default is 32 MiB). */
      maxBytes: z
        .int()
        .min(1)
        .default(32 * 1024 * 1024),
    })
    .prefault({}),
  /** Deadline of `predictModel` calls that give none (there is no application SLO to fall back on). */
  modelTimeoutMs: z.number().gt(0).max(3_600_000).default(1000),
  /** Feedback records kept per application for the selection layer. */
  feedbackLimit: z.int().min(0).max(10_000_000).default(10_000),
  /** How long `close` and `undeployModel` wait for in-flight batches before disposing replicas. */
  closeGraceMs: z.number().min(0).max(600_000).default(5000),
});
export type ClipperConfig = z.output<typeof clipperConfigSchema>;
export type ClipperConfigInput = z.input<typeof clipperConfigSchema>;
