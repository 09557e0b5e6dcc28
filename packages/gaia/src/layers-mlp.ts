import type { Tf } from '@geoml/core';
import type { MlpSpec } from './onnx-mlp.js';

/** A tfjs-layers model (`tf.LayersModel`). */
export type LayersModel = ReturnType<Tf['model']>;

/**
 * `spec` as a tfjs-layers functional model: one `dense` layer per layer of the spec (named as in the
 * spec, so its weights are `name/kernel`, `name/bias`), then, when asked, a softmax `activation` layer
 * named after the output, so the model's output name matches the ONNX export's. The caller disposes it.
 */
export function buildLayersMlp(tf: Tf, spec: MlpSpec): LayersModel {
  const first = spec.layers[0];
  const input = tf.input({ shape: [first?.inputs ?? 0], name: spec.inputName });
  let h = input;
  spec.layers.forEach((layer, l) => {
    const last = l === spec.layers.length - 1;
    const name = last && !spec.softmax ? spec.outputName : layer.name;
    h = tf.layers
      .dense({ units: layer.outputs, activation: layer.activation, name })
      .apply(h) as typeof input;
  });
  if (spec.softmax)
    h = tf.layers.activation({ activation: 'softmax', name: spec.outputName }).apply(h) as typeof input;
  const model = tf.model({ inputs: input, outputs: h, name: spec.graphName });
  const values = spec.layers.flatMap((layer) => [
    tf.tensor2d(layer.kernel, [layer.inputs, layer.outputs]),
    tf.tensor1d(layer.bias),
  ]);
  try {
    model.setWeights(values); // the layers keep their own copies
  } finally {
    tf.dispose(values);
  }
  return model;
}

/**
 * The tfjs-layers files of `model` in memory: `model.json` (topology and weights manifest, the format
 * `tf.loadLayersModel` reads) and `weights.bin`.
 */
export async function layersModelFiles(tf: Tf, model: LayersModel): Promise<Record<string, Uint8Array>> {
  let files: Record<string, Uint8Array> | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      const parts = weightData === undefined ? [] : Array.isArray(weightData) ? weightData : [weightData];
      const bytes = new Uint8Array(parts.reduce((n, b) => n + b.byteLength, 0));
      let at = 0;
      for (const part of parts) {
        bytes.set(new Uint8Array(part), at);
        at += part.byteLength;
      }
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      files = { 'model.json': new TextEncoder().encode(JSON.stringify(modelJson)), 'weights.bin': bytes };
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    }),
  );
  return files as Record<string, Uint8Array>;
}
