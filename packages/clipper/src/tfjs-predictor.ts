import { type DType, loadTf, type Predictor, type Tensor, type Tf } from '@geoml/core';
import { ContainerError } from './errors.js';
import { type InputSpec, stackBatch, unstackBatch, zeroQuery } from './stack.js';

type LayersModel = Awaited<ReturnType<Tf['loadLayersModel']>>;
type TfTensor = ReturnType<Tf['tensor']>;

/** `tf.io.ModelArtifacts`: a topology, weight specs and the weights' bytes. */
export type TfModelArtifacts = Parameters<Parameters<Tf['io']['withSaveHandler']>[0]>[0];
type WeightsManifestEntry = NonNullable<TfModelArtifacts['weightSpecs']>[number];

/**
 * A tfjs model in memory: either `tf.io.ModelArtifacts`, or the files tfjs writes (`model.json` holding
 * `modelTopology` and `weightsManifest`, plus the weight files' bytes in the manifest's path order).
 */
export type TfjsModelSource =
  | TfModelArtifacts
  | {
      readonly modelJson: Uint8Array | string | object;
      readonly weights: Uint8Array | readonly Uint8Array[];
    };

export interface TfjsPredictorOptions {
  /** The tfjs namespace to use; by default core's `loadTf()` (the best backend this machine has). */
  readonly tf?: Tf;
  /** Names for the model's inputs, in order (default: the model's own, or `input` for a Sequential). */
  readonly inputNames?: readonly string[];
  /** Names for the model's outputs, in order (default: the model's own, or `output` for a Sequential). */
  readonly outputNames?: readonly string[];
}

type Query = Record<string, Tensor>;
type TfDType = 'float32' | 'int32' | 'bool';
const TF_DTYPES: ReadonlySet<string> = new Set<TfDType>(['float32', 'int32', 'bool']);

function toArtifacts(source: TfjsModelSource): TfModelArtifacts {
  if (!('modelJson' in source)) return source;
  const { modelJson, weights } = source;
  const json = (
    typeof modelJson === 'string'
      ? JSON.parse(modelJson)
      : modelJson instanceof Uint8Array
        ? JSON.parse(new TextDecoder().decode(modelJson))
        : modelJson
  ) as { modelTopology?: object; weightsManifest?: { weights?: WeightsManifestEntry[] }[] };
  if (!json || typeof json.modelTopology !== 'object' || !Array.isArray(json.weightsManifest)) {
    throw new Error('model.json needs modelTopology and weightsManifest');
  }
  const parts = weights instanceof Uint8Array ? [weights] : [...weights];
  const weightData = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    weightData.set(part, offset);
    offset += part.byteLength;
  }
  return {
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((group) => group.weights ?? []),
    weightData: weightData.buffer,
    format: 'layers-model',
  };
}

/**
 * Names of a model's inputs or outputs: the given ones, else the model's own (functional models keep the
 * names they were built with), else — for a Sequential model, which has none — `input` / `output`
 * (`input_0`, … if several). Returns an error message when the names do not fit.
 */
function namesOf(kind: string, count: number, names: readonly string[]): string[] | string {
  if (names.length === 0)
    return count === 1 ? [kind] : Array.from({ length: count }, (_, i) => `${kind}_${i}`);
  if (names.length !== count || new Set(names).size !== count) {
    return `the model has ${count} ${kind}s; got names [${names.join(', ')}]`;
  }
  return [...names];
}

/**
 * A TensorFlow.js LayersModel container. Per-query inputs are named tensors (see `inputs` for the names)
 * without the batch dimension; a batch is stacked into one tensor per input and run
 * in one `tf.tidy`, and outputs are split per query. `dispose` frees the model's weights, so a hot-swap
 * that disposes the old version leaks no tensors.
 *
 * tfjs runs on the calling thread (the wasm backend has no worker); for big models prefer ONNX.
 */
export class TfjsPredictor implements Predictor<Query, Query> {
  private model: LayersModel | undefined;
  private readonly tf: Tf;
  private readonly specs: InputSpec[];
  private readonly outputs: string[];

  private constructor(tf: Tf, model: LayersModel, inputNames: string[], outputNames: string[]) {
    this.tf = tf;
    this.model = model;
    this.specs = model.inputs.map((input, i) => ({
      name: inputNames[i] as string,
      dtype: input.dtype as DType,
      shape: input.shape.slice(1),
    }));
    this.outputs = outputNames;
  }

  /** Loads a model from memory; any failure is `ContainerError('LOAD_FAILED')`. */
  static async load(source: TfjsModelSource, options: TfjsPredictorOptions = {}): Promise<TfjsPredictor> {
    let tf: Tf;
    let model: LayersModel;
    try {
      tf = options.tf ?? (await loadTf()).tf;
      model = await tf.loadLayersModel(tf.io.fromMemory(toArtifacts(source)));
    } catch (err) {
      throw new ContainerError('LOAD_FAILED', `tfjs could not load the model: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const bad = model.inputs.find((input) => !TF_DTYPES.has(input.dtype) || input.shape.length < 1);
    if (bad) {
      model.dispose();
      throw new ContainerError(
        'LOAD_FAILED',
        `model input of dtype ${bad.dtype} and shape [${bad.shape}] cannot be batched`,
      );
    }
    const inputNames = namesOf('input', model.inputs.length, options.inputNames ?? model.inputNames);
    const outputNames = namesOf('output', model.outputs.length, options.outputNames ?? model.outputNames);
    if (typeof inputNames === 'string' || typeof outputNames === 'string') {
      model.dispose();
      throw new ContainerError(
        'LOAD_FAILED',
        (typeof inputNames === 'string' ? inputNames : outputNames) as string,
      );
    }
    return new TfjsPredictor(tf, model, inputNames, outputNames);
  }

  /** The model's inputs, each with its per-query shape (`null` = free dimension). */
  get inputs(): readonly InputSpec[] {
    return this.specs;
  }

  /** The model's output names. */
  get outputNames(): readonly string[] {
    return this.outputs;
  }

  /** Runs zero-filled (or `sample`) batches of each size once, so kernels are compiled before real traffic. */
  async warmUp(options: { batchSizes?: readonly number[]; sample?: Query } = {}): Promise<void> {
    const query = options.sample ?? zeroQuery(this.specs);
    for (const size of options.batchSizes ?? [1])
      await this.predict(Array.from({ length: size }, () => query));
  }

  async predict(inputs: readonly Query[]): Promise<Query[]> {
    const model = this.model;
    if (!model) throw new ContainerError('DISPOSED', 'the predictor was disposed');
    if (!Array.isArray(inputs)) throw new ContainerError('BAD_INPUT', 'predict expects an array of queries');
    if (inputs.length === 0) return [];
    const stacked = stackBatch(inputs, this.specs);
    const tf = this.tf;
    // tidy frees the input tensors and intermediates; the returned outputs are freed below after reading.
    let ys: TfTensor[];
    try {
      ys = tf.tidy(() => {
        const xs = this.specs.map((spec) => {
          const t = stacked[spec.name] as Tensor;
          return tf.tensor(
            t.data as Float32Array | Int32Array | Uint8Array,
            [...t.shape],
            spec.dtype as TfDType,
          );
        });
        const y = model.predict(xs.length === 1 ? (xs[0] as TfTensor) : xs);
        return Array.isArray(y) ? y : [y];
      });
    } catch (err) {
      throw new ContainerError('BAD_INPUT', `tfjs rejected the batch: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      const outputs: Query = {};
      for (let i = 0; i < ys.length; i++) {
        const y = ys[i] as TfTensor;
        const data = (await y.data()) as Tensor['data'];
        outputs[this.outputs[i] as string] = { dtype: y.dtype as DType, shape: [...y.shape], data };
      }
      return unstackBatch(outputs, inputs.length);
    } finally {
      for (const y of ys) y.dispose();
    }
  }

  /** Frees the model's weights; later calls fail with `DISPOSED`. Idempotent. */
  async dispose(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    model?.dispose();
  }
}
