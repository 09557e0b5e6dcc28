import { type ModelArtifact, type TensorMap, tensorsArtifactFiles } from '@geoml/core';
import type { ModelRegistry } from '@geoml/transport';
import type { TrainResult } from './trainer.js';

export interface PublishModelOptions {
  /** Encoding of the parameters file; default `raw` (exact). */
  readonly encoding?: 'raw' | 'fp16' | 'int8';
  /** ISO timestamp of the manifest; default now. */
  readonly createdAt?: string;
  /** Parameters to publish instead of `result.model` (e.g. a workload's own export). */
  readonly params?: TensorMap;
}

/**
 * Publishes a training run's model to a registry as a `tensors` artifact, with its quality and a
 * summary of how it was trained (mode, regions, clocks, WAN bytes, cost model) in the metadata, so a
 * serving side can load it and know where it came from.
 */
export function publishModel(
  registry: ModelRegistry,
  name: string,
  result: TrainResult,
  options: PublishModelOptions = {},
): Promise<ModelArtifact> {
  const files = tensorsArtifactFiles(options.params ?? result.model, {
    ...(options.encoding ? { encoding: options.encoding } : {}),
  });
  return registry.publish({
    name,
    format: 'tensors',
    files,
    ...(options.createdAt ? { createdAt: options.createdAt } : {}),
    metadata: {
      quality: { ...result.finalQuality },
      training: {
        engine: 'gaia',
        mode: result.mode,
        regions: [...result.regions],
        workersPerRegion: result.workersPerRegion,
        clocks: result.clocks.max,
        elapsedS: result.elapsedS,
        wanBytes: result.wanBytes,
        ds: result.ds,
        tau0: result.tau0,
        stepMs: result.costModel.stepMs,
      },
    },
  });
}
