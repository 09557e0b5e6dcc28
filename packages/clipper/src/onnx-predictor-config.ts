import { parseConfig } from '@geoml/core';
import { z } from 'zod';
import type { WorkerKind } from './onnx-worker-pool.js';

/** Session and worker settings of an `OnnxPredictor`; every field has a default. */
export const onnxPredictorConfigSchema = z
  .object({
    /** Threads inside one operator; keep replicas × threads ≤ cores. */
    intraOpNumThreads: z.number().int().min(1).default(1),
    interOpNumThreads: z.number().int().min(1).default(1),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'layout', 'all']).default('all'),
    executionMode: z.enum(['sequential', 'parallel']).default('sequential'),
    executionProviders: z.array(z.string().min(1)).min(1).default(['cpu']),
    enableCpuMemArena: z.boolean().default(true),
    enableMemPattern: z.boolean().default(true),
    /** Bound on creating a session (ms); past it the load fails with TIMEOUT and the worker is replaced. */
    loadTimeoutMs: z.number().positive().default(120_000),
    /** Bound on one batch (ms); past it the call fails with TIMEOUT and the worker is replaced. */
    runTimeoutMs: z.number().positive().optional(),
    /**
     * Boot, load and warm up (`warmUp`, `predictInBackground`) at the lowest OS priority, raised back on
     * the first `predict`, so loading a model does not slow those serving. Only where the priority can be
     * raised back (Linux with CAP_SYS_NICE or RLIMIT_NICE); elsewhere every thread runs at normal priority.
     */
    background: z.boolean().default(true),
    /**
     * Take the worker thread from the process's spare pool (booted, onnxruntime imported) and give it back
     * with its session released on `dispose`, instead of starting and ending a thread per predictor.
     */
    reuseWorkers: z.boolean().default(true),
    /** How many times a worker that dies while loading is replaced before the load gives up. */
    maxRespawns: z.number().int().min(0).default(3),
    /** V8 heap limits of the worker, so a runaway model dies alone (as CRASHED) instead of the process. */
    resourceLimits: z
      .object({
        maxOldGenerationSizeMb: z.number().positive(),
        maxYoungGenerationSizeMb: z.number().positive(),
        stackSizeMb: z.number().positive(),
      })
      .partial()
      .optional(),
  })
  .strict();

/** What a caller may pass (defaults optional). */
export type OnnxPredictorConfig = z.input<typeof onnxPredictorConfigSchema>;
/** The settings with every default filled in. */
export type OnnxPredictorSettings = z.output<typeof onnxPredictorConfigSchema>;

/** The kind of pooled worker thread predictors with `config` use (see `prestartWorkers`). */
export function onnxWorkerKind(config: OnnxPredictorConfig = {}): WorkerKind {
  return workerKindOf(parseConfig(onnxPredictorConfigSchema, config, 'onnx predictor config'));
}

/** `onnxWorkerKind` of settings already parsed. */
export function workerKindOf({ resourceLimits, background }: OnnxPredictorSettings): WorkerKind {
  return { background, ...(resourceLimits ? { resourceLimits } : {}) };
}
