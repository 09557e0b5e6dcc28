import { type ModelArtifact, type TensorMap, type TensorSpec, tensorsArtifactFiles } from '@geoml/core';
import type { ModelRegistry } from '@geoml/transport';
import type { TrainResult } from './trainer.js';

export interface PublishModelOptions {
  /** Encoding of the parameters file; default `raw` (exact). */
  readonly encoding?: 'raw' | 'fp16' | 'int8';
  /** ISO timestamp of the manifest; default now. */
  readonly createdAt?: string;
  /** Parameters to publish instead of `result.model` (e.g. a workload's own export). */
  readonly params?: TensorMap;
  /**
   * Publish an `onnx` artifact exported by this workload (the MNIST classifier is one) instead of the raw
   * parameters, with its input/output signature in the metadata, so serving can load it as it is.
   */
  readonly onnx?: OnnxExport;
  /** More facts for `metadata.training` (e.g. which process published). */
  readonly training?: Record<string, unknown>;
}

/** A workload that exports its model as ONNX. */
export interface OnnxExport {
  toOnnx(params: TensorMap): Uint8Array;
  readonly signature: { readonly inputs: readonly TensorSpec[]; readonly outputs: readonly TensorSpec[] };
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
  const params = options.params ?? result.model;
  const files = options.onnx
    ? { 'model.onnx': options.onnx.toOnnx(params) }
    : tensorsArtifactFiles(params, { ...(options.encoding ? { encoding: options.encoding } : {}) });
  return registry.publish({
    name,
    format: options.onnx ? 'onnx' : 'tensors',
    files,
    ...(options.createdAt ? { createdAt: options.createdAt } : {}),
    metadata: {
      ...(options.onnx
        ? { inputs: [...options.onnx.signature.inputs], outputs: [...options.onnx.signature.outputs] }
        : {}),
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
        ...options.training,
      },
    },
  });
}
