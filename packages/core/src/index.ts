// Public API of @geoml/core. Every public name is listed here; files not named stay internal.

export { type Clock, SystemClock, systemClock } from './clock.js';
export { parseConfig } from './config.js';
export { ArtifactError, BackendError, CodecError, ConfigError, GeomlError, TensorError } from './errors.js';
export {
  allocate,
  BYTES_PER_ELEMENT,
  type DType,
  isSparse,
  type SparseTensor,
  sizeOf,
  type Tensor,
  type TensorMap,
  type TypedArray,
  type TypedArrayOf,
  tensor,
  type UpdateMap,
  zeros,
} from './tensor.js';
