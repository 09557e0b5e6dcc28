import {
  type ArtifactFormat,
  labelOf,
  type ModelArtifact,
  type Predictor,
  type Tensor,
  type TensorSpec,
  zeros,
} from '@geoml/core';
import { type FetchedArtifact, verifyFiles } from '@geoml/transport';
import { ContainerError } from './errors.js';
import { oipDatatype } from './http/oip-tensor.js';
import type { Signature, SignatureTensor } from './http/signature.js';
import { OnnxPredictor } from './onnx-predictor.js';
import {
  type OnnxPredictorConfig,
  type OnnxPredictorSettings,
  onnxPredictorConfigSchema,
} from './onnx-predictor-config.js';
import { parseOnce } from './parsed-config.js';
import type { InputSpec } from './stack.js';
import { TfjsPredictor, type TfjsPredictorOptions } from './tfjs-predictor.js';

/**
 * From a resolved (hash-verified) `ModelArtifact` to serving containers: one `Predictor` per replica,
 * chosen by the artifact's format, and the signature the HTTP frontends read from the deployment's
 * `metadata.signature`.
 */

type Query = Record<string, Tensor>;

/** An artifact with the bytes of every file, as `ModelRegistry.resolve` returns it. */
export interface ArtifactFiles {
  readonly artifact: ModelArtifact;
  readonly files: Readonly<Record<string, Uint8Array>>;
}

/** Makes one replica of an artifact; custom loaders (e.g. for `tensors` artifacts) take this shape. */
export type ArtifactLoader = (resolved: ArtifactFiles) => Promise<Predictor>;

export interface ArtifactLoaderOptions {
  /** Session settings of `onnx` replicas (default: one intra-op thread each). */
  readonly onnx?: OnnxPredictorConfig;
  /** Options of `tfjs-layers` replicas (the tfjs namespace, input/output names). */
  readonly tfjs?: TfjsPredictorOptions;
  /** Loaders by format, replacing or adding to the built-in ones (`tensors` has none built in). */
  readonly loaders?: Partial<Record<ArtifactFormat, ArtifactLoader>>;
}

/** A replica as the hot-loader sees it: a Predictor that may know its inputs and warm itself up. */
export interface LoadedPredictor extends Predictor<Query, Query> {
  readonly inputs?: readonly InputSpec[];
  readonly outputNames?: readonly string[];
  /** Answers without leaving the background priority it loaded at (warm-up before the version serves). */
  predictInBackground?(inputs: readonly Query[]): Promise<Query[]>;
}

function loadFailed(artifact: ModelArtifact, message: string, cause?: unknown): ContainerError {
  return new ContainerError('LOAD_FAILED', `${artifact.name} v${artifact.version}: ${message}`, { cause });
}

/** The one file of `artifact` whose path passes `test` (preferring `preferred`), with its bytes. */
function entryFile<F>(
  r: { artifact: ModelArtifact; files: Readonly<Record<string, F>> },
  test: (p: string) => boolean,
  preferred: string,
  what: string,
): { path: string; bytes: F } {
  const paths = r.artifact.files.map((f) => f.path).filter(test);
  const path = paths.includes(preferred) ? preferred : paths.length === 1 ? paths[0] : undefined;
  if (path === undefined)
    throw loadFailed(r.artifact, `expected ${preferred} or exactly one ${what}, found ${paths.length}`);
  const bytes = r.files[path];
  if (!bytes) throw loadFailed(r.artifact, `file "${path}" is missing`);
  return { path, bytes };
}

const onnxEntry = (p: string) => p.endsWith('.onnx');
const onnxSession = (config: OnnxPredictorConfig) => ({
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  ...config,
});

/** The settings of built-in ONNX replicas (one intra-op thread by default), parsed once for reuse. */
export function onnxReplicaSettings(config: OnnxPredictorConfig = {}): OnnxPredictorSettings {
  return parseOnce(onnxPredictorConfigSchema, onnxSession(config), 'onnx predictor config');
}

const loadOnnx =
  (config: OnnxPredictorConfig): ArtifactLoader =>
  async (r) => {
    const { bytes } = entryFile(r, onnxEntry, 'model.onnx', '.onnx file');
    return OnnxPredictor.create(bytes, onnxSession(config));
  };

const loadTfjs =
  (options: TfjsPredictorOptions): ArtifactLoader =>
  async (r) => {
    const { path, bytes } = entryFile(
      r,
      (p) => p === 'model.json' || p.endsWith('/model.json'),
      'model.json',
      'model.json',
    );
    let json: { weightsManifest?: { paths?: unknown }[] };
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw loadFailed(r.artifact, `${path} is not JSON: ${(e as Error).message}`, e);
    }
    // Weight files are named relative to model.json, in manifest order.
    const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
    const weights: Uint8Array[] = [];
    for (const group of Array.isArray(json?.weightsManifest) ? json.weightsManifest : []) {
      for (const p of Array.isArray(group?.paths) ? group.paths : []) {
        const file = r.files[`${dir}${String(p)}`];
        if (!file)
          throw loadFailed(r.artifact, `weights file "${dir}${String(p)}" named by ${path} is missing`);
        weights.push(file);
      }
    }
    return TfjsPredictor.load({ modelJson: bytes, weights }, options);
  };

/**
 * Loads one replica of a resolved artifact: `onnx` → `OnnxPredictor` (a session in a worker thread),
 * `tfjs-layers` → `TfjsPredictor`, any format → `options.loaders[format]` when given. A file that does
 * not load, or a format without a loader, is `ContainerError('LOAD_FAILED')` naming the version.
 */
export async function loadReplica(
  resolved: ArtifactFiles,
  options: ArtifactLoaderOptions = {},
): Promise<LoadedPredictor> {
  const { format } = resolved.artifact;
  const loader =
    options.loaders?.[format] ??
    (format === 'onnx'
      ? loadOnnx(options.onnx ?? {})
      : format === 'tfjs-layers'
        ? loadTfjs(options.tfjs ?? {})
        : undefined);
  if (!loader)
    throw loadFailed(resolved.artifact, `no container loads ${format} artifacts; pass loaders.${format}`);
  try {
    return (await loader(resolved)) as LoadedPredictor;
  } catch (e) {
    if (e instanceof ContainerError && e.code === 'LOAD_FAILED' && e.message.includes(resolved.artifact.name))
      throw e;
    throw loadFailed(resolved.artifact, (e as Error).message, e);
  }
}

/** How a hot-loader makes the replicas of one fetched version. */
export interface ReplicaMaker {
  readonly artifact: ModelArtifact;
  /** One more replica, loaded (not warmed up). */
  make(): Promise<LoadedPredictor>;
}

/**
 * From a fetched, not yet hashed, version to its replicas. The built-in ONNX container takes the model
 * file's bytes as stored with its sha256: its worker thread copies shared bytes, hashes the copy and
 * builds the session from it, so the serving main thread neither copies nor hashes the model, and a
 * changed byte is `ContainerError` `HASH_MISMATCH`. Every other loader gets files checked here first
 * (`verifyFiles`: `RegistryError` `HASH_MISMATCH`).
 */
export async function replicaMaker(
  fetched: FetchedArtifact,
  options: ArtifactLoaderOptions = {},
  parsed: { onnx?: OnnxPredictorSettings } = {},
): Promise<ReplicaMaker> {
  const { artifact } = fetched;
  if (artifact.format === 'onnx' && !options.loaders?.onnx) {
    const { path, bytes: file } = entryFile(fetched, onnxEntry, 'model.onnx', '.onnx file');
    // `parsed` keeps the parsed settings for the next version (a hot-loader passes its watch's).
    parsed.onnx ??= onnxReplicaSettings(options.onnx);
    const config = parsed.onnx;
    const make = async (): Promise<LoadedPredictor> => {
      try {
        return await OnnxPredictor.create({ bytes: file.bytes, sha256: file.sha256 }, config);
      } catch (e) {
        if (!(e instanceof ContainerError && e.code === 'HASH_MISMATCH'))
          throw loadFailed(artifact, (e as Error).message, e);
        throw new ContainerError('HASH_MISMATCH', `${labelOf(artifact)}: file "${path}": ${e.message}`, {
          cause: e,
        });
      }
    };
    return { artifact, make };
  }
  const resolved = await verifyFiles(fetched);
  return { artifact, make: () => loadReplica(resolved, options) };
}

/** Per-query shape of a metadata spec: the leading (batch) dimension dropped, free dimensions as -1. */
function perQuery(spec: TensorSpec): SignatureTensor {
  return {
    name: spec.name,
    datatype: oipDatatype(spec.dtype),
    shape: spec.shape.slice(1).map((d) => (d === null ? -1 : d)),
  };
}

/**
 * The signature of a model version: inputs and outputs from the artifact's metadata (whose shapes
 * include the batch dimension first, as gaia writes them), else the inputs the loaded model declares
 * and the outputs of one warm-up answer. Undefined when neither says anything.
 */
export function signatureOf(
  artifact: ModelArtifact,
  replica?: LoadedPredictor,
  sampleOutput?: Query,
): Signature | undefined {
  const meta = artifact.metadata;
  const inputs =
    meta.inputs?.map(perQuery) ??
    replica?.inputs?.map((s) => ({
      name: s.name,
      datatype: oipDatatype(s.dtype),
      shape: s.shape.map((d) => d ?? -1),
    }));
  const outputs =
    meta.outputs?.map(perQuery) ??
    (sampleOutput
      ? Object.entries(sampleOutput).map(([name, t]) => ({
          name,
          datatype: oipDatatype(t.dtype),
          shape: [...t.shape],
        }))
      : undefined);
  if (!inputs || !outputs) return undefined;
  return { inputs, outputs };
}

/**
 * A zero-filled query for the model: from the inputs the replica declares (free dimensions as 1),
 * else from the artifact's metadata. Undefined when the model's inputs are unknown.
 */
export function zeroInput(artifact: ModelArtifact, replica?: LoadedPredictor): Query | undefined {
  const specs: InputSpec[] | undefined =
    (replica?.inputs as InputSpec[] | undefined) ??
    artifact.metadata.inputs?.map((s) => ({ name: s.name, dtype: s.dtype, shape: s.shape.slice(1) }));
  if (!specs || specs.length === 0) return undefined;
  const query: Query = {};
  for (const s of specs)
    query[s.name] = zeros(
      s.dtype,
      s.shape.map((d) => d ?? 1),
    );
  return query;
}

/**
 * Refuses a replica whose declared inputs disagree with the artifact's metadata (a manifest describing
 * another model): the frontends would shape queries for inputs the model does not have.
 */
export function checkInputs(artifact: ModelArtifact, replica: LoadedPredictor): void {
  const declared = artifact.metadata.inputs?.map((s) => s.name);
  const actual = replica.inputs?.map((s) => s.name);
  if (!declared || !actual) return;
  const missing = declared.filter((n) => !actual.includes(n));
  if (missing.length > 0 || declared.length !== actual.length)
    throw loadFailed(
      artifact,
      `metadata names inputs [${declared.join(', ')}], the model takes [${actual.join(', ')}]`,
    );
}

/**
 * Runs `input` once in a batch of each size (compiling kernels, sizing arenas) and returns the first
 * answer (for the signature). Throws when a batch comes back short or, with `rejectNonFinite`, holds
 * NaN or ±Infinity (weights that parse but are broken).
 */
export async function warmUp(
  replica: LoadedPredictor,
  input: Query,
  options: { batchSizes: readonly number[]; rejectNonFinite: boolean },
): Promise<Query> {
  let sample: Query | undefined;
  const run = replica.predictInBackground?.bind(replica) ?? replica.predict.bind(replica);
  for (const size of options.batchSizes) {
    const out = await run(Array.from({ length: size }, () => input));
    if (out.length !== size) throw new Error(`warm-up batch of ${size} got ${out.length} answers`);
    sample ??= out[0];
  }
  if (options.rejectNonFinite && sample) checkFinite(sample);
  return sample as Query;
}

/** Throws naming the output when a float output holds NaN or ±Infinity. */
export function checkFinite(output: Query): void {
  for (const [name, t] of Object.entries(output ?? {})) {
    if (!(t?.data instanceof Float32Array || t?.data instanceof Float64Array)) continue;
    if (!t.data.every(Number.isFinite)) throw new Error(`output '${name}' holds NaN or Infinity`);
  }
}
