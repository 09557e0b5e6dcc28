import { loadTf, type Tensor, type Tf, tensor } from '@geoml/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildOnnxModel,
  type DenseLayer,
  referenceMlp,
  sampleInput,
} from '../../../test/fixtures/onnx-models.js';
import { TfjsPredictor, type TfModelArtifacts } from '../src/tfjs-predictor.js';

type LayersModel = ReturnType<Tf['sequential']>;

let tf: Tf;
const mlpS = buildOnnxModel('mlp-s');

async function artifactsOf(model: LayersModel | ReturnType<Tf['model']>): Promise<TfModelArtifacts> {
  let saved: TfModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return saved as TfModelArtifacts;
}

/** The fixture's mlp-s weights in a tfjs Sequential model, saved as model.json + weights bytes. */
async function mlpFiles(
  layers: readonly DenseLayer[],
): Promise<{ modelJson: Uint8Array; weights: Uint8Array }> {
  const model = tf.sequential({
    layers: layers.map((l, i) =>
      tf.layers.dense({
        units: l.outFeatures,
        activation: l.relu ? 'relu' : 'linear',
        ...(i === 0 ? { inputShape: [l.inFeatures] } : {}),
      }),
    ),
  });
  const weights = layers.flatMap((l) => [
    tf.tensor(l.weight, [l.inFeatures, l.outFeatures]),
    tf.tensor(l.bias, [l.outFeatures]),
  ]);
  model.setWeights(weights);
  for (const w of weights) w.dispose();
  const a = await artifactsOf(model);
  const json = {
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
  };
  return {
    modelJson: new TextEncoder().encode(JSON.stringify(json)),
    weights: new Uint8Array(a.weightData as ArrayBuffer),
  };
}

function query(seed: number): Record<string, Tensor> {
  return { input: tensor('float32', [784], sampleInput(mlpS, seed)) };
}

beforeAll(async () => {
  tf = (await loadTf({ quiet: true })).tf;
});

describe('TfjsPredictor', () => {
  it('matches a plain-JS reference of mlp-s for a batch of 1 and of 32, from model.json and weight bytes', async () => {
    const files = await mlpFiles(mlpS.layers);
    const p = await TfjsPredictor.load(files);
    expect(p.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: [784] }]);
    expect(p.outputNames).toEqual(['output']);
    for (const seeds of [[3], Array.from({ length: 32 }, (_, i) => 50 + i)]) {
      const outputs = await p.predict(seeds.map((s) => query(s)));
      expect(outputs).toHaveLength(seeds.length);
      outputs.forEach((out, i) => {
        const y = out.output as Tensor;
        expect(y.shape).toEqual([10]);
        const ref = referenceMlp(mlpS.layers, sampleInput(mlpS, seeds[i] as number));
        for (let j = 0; j < 10; j++) expect(y.data[j]).toBeCloseTo(ref[j] as number, 4);
      });
    }
    await p.dispose();
  });

  it('feeds named inputs of a two-input model and names a missing one in BAD_INPUT', async () => {
    const a = tf.input({ shape: [2], name: 'a' });
    const b = tf.input({ shape: [3], name: 'b' });
    const joined = tf.layers.concatenate().apply([a, b]);
    const out = tf.layers.dense({ units: 1, name: 'sum' }).apply(joined);
    const model = tf.model({ inputs: [a, b], outputs: out as ReturnType<typeof tf.input> });
    const ones = tf.tensor(new Float32Array(5).fill(1), [5, 1]);
    const zero = tf.tensor(new Float32Array(1), [1]);
    model.setWeights([ones, zero]);
    ones.dispose();
    zero.dispose();
    const p = await TfjsPredictor.load(await artifactsOf(model));
    expect(p.inputs.map((i) => i.name)).toEqual(['a', 'b']);
    expect(p.outputNames).toEqual(['sum']);
    const q = (x: number) => ({
      a: tensor('float32', [2], new Float32Array([x, 1])),
      b: tensor('float32', [3], new Float32Array([2, 3, 4])),
    });
    const outputs = await p.predict([q(0), q(10)]);
    expect(outputs.map((o) => Array.from(o.sum?.data as Float32Array))).toEqual([[10], [20]]);

    await expect(p.predict([{ a: q(1).a }])).rejects.toMatchObject({ code: 'BAD_INPUT', input: 'b' });
    await p.dispose();
  });

  it('frees every tensor on dispose, across repeated load / predict / dispose cycles', async () => {
    const files = await mlpFiles(mlpS.layers);
    const baseline = tf.memory().numTensors;
    for (let cycle = 0; cycle < 3; cycle++) {
      const p = await TfjsPredictor.load(files);
      await p.warmUp({ batchSizes: [1, 8] });
      const name = p.inputs[0]?.name as string;
      await p.predict([{ [name]: query(cycle).input as Tensor }]);
      expect(tf.memory().numTensors).toBeGreaterThan(baseline);
      await p.dispose();
      expect(tf.memory().numTensors).toBe(baseline);
      await expect(p.predict([{ [name]: query(cycle).input as Tensor }])).rejects.toMatchObject({
        code: 'DISPOSED',
      });
    }
  });

  it('fails a malformed model with LOAD_FAILED and a malformed batch with BAD_INPUT, leaking nothing', async () => {
    await expect(
      TfjsPredictor.load({ modelJson: '{"nope":1}', weights: new Uint8Array() }),
    ).rejects.toMatchObject({
      code: 'LOAD_FAILED',
    });
    const files = await mlpFiles(mlpS.layers);
    await expect(
      TfjsPredictor.load({ modelJson: files.modelJson, weights: files.weights.subarray(0, 100) }),
    ).rejects.toMatchObject({ code: 'LOAD_FAILED' });

    const p = await TfjsPredictor.load(files);
    const name = p.inputs[0]?.name as string;
    const before = tf.memory().numTensors;
    await expect(
      p.predict([{ [name]: tensor('float32', [783], new Float32Array(783)) }]),
    ).rejects.toMatchObject({
      code: 'BAD_INPUT',
      input: name,
    });
    expect(tf.memory().numTensors).toBe(before);
    await p.dispose();
  });
});
