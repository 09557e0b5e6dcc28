/**
 * Deploying a generated ONNX model behind its own application, the way every experiment does: one
 * OnnxPredictor replica (one session in one worker thread, one intra-op thread), a batching mode, a 20 ms
 * SLO by default, and the signature the HTTP frontends use to shape JSON inputs.
 */

import { type BatchingInput, type Clipper, OnnxPredictor } from '@geoml/clipper';
import type { Tensor } from '@geoml/core';
import type { OnnxTestModel } from '../../test/fixtures/onnx-models.js';

export const SLO_MS = 20;

export interface DeployedApp {
  app: string;
  model: string;
}

export async function deployApp(
  clipper: Clipper,
  name: string,
  model: OnnxTestModel,
  batching: BatchingInput,
  opts: { cache?: boolean; sloMs?: number; replicas?: number } = {},
): Promise<DeployedApp> {
  await clipper.deployModel(
    name,
    1,
    () => OnnxPredictor.create(model.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 }),
    {
      replicas: opts.replicas ?? 1,
      batching,
      cache: opts.cache ?? false,
      maxQueueLength: 100_000,
      metadata: {
        signature: {
          inputs: [{ name: model.inputName, datatype: 'FP32', shape: [...model.inputShape] }],
          outputs: [{ name: model.outputName, datatype: 'FP32', shape: [...model.outputShape] }],
        },
      },
    },
  );
  clipper.registerApplication({
    name,
    inputType: 'tensor',
    latencySloMs: opts.sloMs ?? SLO_MS,
    defaultOutput: null,
    linkedModels: [name],
  });
  return { app: name, model: name };
}

/** One query's input record for a model (float32, shaped without the batch dimension). */
export function queryOf(model: OnnxTestModel, data: Float32Array): Record<string, Tensor> {
  return { [model.inputName]: { dtype: 'float32', shape: [...model.inputShape], data } };
}

/** The batching modes compared in E2/E3, by label. */
export const BATCHING_MODES: Record<string, BatchingInput> = {
  'static-1': { mode: 'static', batchSize: 1 },
  'static-8': { mode: 'static', batchSize: 8 },
  'static-32': { mode: 'static', batchSize: 32 },
  aimd: { mode: 'aimd', maxBatchSize: 256 },
  quantile: { mode: 'quantile', maxBatchSize: 256 },
  'delayed-2ms': { mode: 'delayed', maxBatchSize: 32, maxDelayMs: 2 },
};

export const STATIC_MODES = ['static-1', 'static-8', 'static-32'];
