// Public API of @geoml/transport. Every public name is listed here; files not named stay internal.

export { RegistryError, TransportError, type TransportErrorCode } from './errors.js';
export {
  ModelRegistry,
  type ModelRegistryOptions,
  modelRegistryOptionsSchema,
  type ResolvedArtifact,
} from './model-registry.js';
export type { ModelWatch, ModelWatchOptions } from './model-registry-watch.js';
export type {
  BlobInfo,
  BlobStore,
  Headers,
  KvEntry,
  KvOperation,
  KvOptions,
  KvStore,
  KvWatch,
  KvWatchOptions,
  Lane,
  Msg,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportStatus,
} from './transport.js';
