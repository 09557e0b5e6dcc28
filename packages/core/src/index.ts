// Public API of @geoml/core. Every public name is listed here; files not named stay internal.

export {
  ARTIFACT_FORMATS,
  ARTIFACT_NAME,
  type ArtifactDraft,
  type ArtifactFile,
  type ArtifactFormat,
  type ArtifactInput,
  type ArtifactMetadata,
  artifactDigest,
  artifactDraftSchema,
  artifactFileSchema,
  artifactMetadataSchema,
  createArtifact,
  labelOf,
  type ModelArtifact,
  modelArtifactSchema,
  parseArtifact,
  parseArtifactDraft,
  sha256Hex,
  type TensorSpec,
  tensorSpecSchema,
  verifyArtifact,
} from './artifact.js';
export {
  type LoadedTf,
  type LoadTfOptions,
  loadOrt,
  loadTf,
  type Ort,
  TF_BACKENDS,
  type Tf,
  type TfBackendName,
} from './backends.js';
export { type Clock, SystemClock, systemClock } from './clock.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  type DecodeOptions,
  decodeTensorMap,
  type EncodeOptions,
  type Encoding,
  encodedSize,
  encodeTensorMap,
  encodeTensorMapInto,
} from './codec.js';
export { parseConfig } from './config.js';
export { fromOrt, fromTf, toOrt, toTf } from './convert.js';
export {
  ArtifactError,
  BackendError,
  ClockError,
  CodecError,
  ConfigError,
  GeomlError,
  TensorError,
} from './errors.js';
export { MinHeap } from './min-heap.js';
export type { Model, Quality } from './model.js';
export type { Predictor } from './predictor.js';
export { createRng, type Rng } from './rng.js';
export {
  allocate,
  allocateUnfilled,
  BYTES_PER_ELEMENT,
  type DType,
  isArrayOf,
  isSparse,
  type SparseTensor,
  sizeOf,
  type Tensor,
  type TensorMap,
  type TypedArray,
  type TypedArrayOf,
  tensor,
  type UpdateMap,
  viewOf,
  zeros,
} from './tensor.js';
export { readTensorsArtifact, TENSORS_FILE, tensorsArtifactFiles } from './tensors-artifact.js';
export { VectorClock, withinStaleness } from './vector-clock.js';
export { VirtualClock } from './virtual-clock.js';
