// Public API of @geoml/clipper. Every public name is listed here; files not named stay internal.

export { AimdController, type AimdOptions } from './aimd.js';
export {
  type Application,
  type ApplicationInput,
  applicationSchema,
  checkInput,
} from './application.js';
export {
  type ArtifactFiles,
  type ArtifactLoader,
  type ArtifactLoaderOptions,
  type LoadedPredictor,
  loadReplica,
  signatureOf,
} from './artifact-loader.js';
export {
  type BatchController,
  type BatchSample,
  createBatchController,
  StaticBatchController,
} from './batch-controller.js';
export { type CanaryInfo, canaryShareSchema } from './canary.js';
export {
  Clipper,
  type ClipperOptions,
  type DeployOptions,
  type PredictModelOptions,
  type PredictOptions,
} from './clipper.js';
export {
  aimdBatchingSchema,
  type BatchingConfig,
  type BatchingInput,
  type BatchingMode,
  batchingSchema,
  type ClipperConfig,
  type ClipperConfigInput,
  clipperConfigSchema,
  delayedBatchingSchema,
  type InputType,
  inputTypeSchema,
  type ModelDeployment,
  type ModelDeploymentInput,
  modelDeploymentSchema,
  quantileBatchingSchema,
  staticBatchingSchema,
} from './config.js';
export { DelayedBatchingController } from './delayed-batching.js';
export type { ModelInfo, ModelVersionInfo, PredictorFactory } from './deployments.js';
export { ContainerError, type ContainerErrorCode } from './errors.js';
export type { FeedbackRecord } from './feedback-log.js';
export {
  type BatchFunction,
  FunctionPredictor,
  type FunctionPredictorOptions,
} from './function-predictor.js';
export { HotLoadCounters } from './hot-load-counters.js';
export {
  HotLoadError,
  type HotLoadEvent,
  type HotLoadEventType,
  type HotLoadMetrics,
  type HotLoadStage,
} from './hot-load-events.js';
export {
  type HotLoaderOptions,
  type HotLoadHooks,
  type HotLoadOptions,
  type HotLoadSettings,
  hotLoadOptionsSchema,
  type WatchStatus,
} from './hot-load-options.js';
export { HotLoader } from './hot-loader.js';
export { HttpFrontend, type HttpFrontendOptions, httpFrontendSchema } from './http/http-frontend.js';
export { PrometheusMetrics } from './http/prometheus-metrics.js';
export type { Signature, SignatureTensor } from './http/signature.js';
export { CanaryRefused, type LiveCanaryReport } from './live-canary.js';
export type {
  BatchEvent,
  CacheEvent,
  DropEvent,
  PredictionEvent,
  ServingMetrics,
} from './metrics.js';
export type { StackedPredictor } from './model-batch.js';
export type { OnnxModelBlob, OnnxModelSource } from './onnx-model-source.js';
export { OnnxPredictor } from './onnx-predictor.js';
export { type OnnxPredictorConfig, onnxPredictorConfigSchema } from './onnx-predictor-config.js';
export {
  closeSpareWorkers,
  prestartWorkers,
  spareWorkers,
  type WorkerKind,
} from './onnx-worker-pool.js';
export {
  type CacheLookup,
  type CacheStats,
  hashInput,
  PredictionCache,
  type PredictionCacheOptions,
} from './prediction-cache.js';
export {
  fitQuantileLine,
  type LatencyLine,
  QuantileRegressionController,
  type QuantileRegressionOptions,
} from './quantile-regression.js';
export {
  type DefaultReason,
  NO_MODEL_EXPLANATION,
  type PredictionResult,
  SLO_EXPLANATION,
  type TaskOutcome,
} from './query.js';
export { type Admission, type CompletionEstimate, EdfQueue, type Queued } from './queue.js';
export {
  DISCOVER_SUBJECT,
  GOODBYE_SUBJECT,
  HEARTBEAT_SUBJECT,
  PROTOCOL_VERSION,
  predictSubject,
  queueGroup,
  REGISTER_SUBJECT,
  type Registration,
  type RemoteErrorCode,
  replicaSubject,
} from './remote/protocol.js';
export {
  RemoteContainers,
  type RemoteContainersOptions,
  type RemoteReplica,
  type ReplicaEvent,
} from './remote/remote-containers.js';
export type { RemoteDeployOptions } from './remote/remote-deployment.js';
export { RemotePredictor, type RemotePredictorOptions } from './remote/remote-predictor.js';
export type { ReplicaLease, ReplicaRouter } from './remote/replica-router.js';
export {
  type ContainerHandle,
  type ServeContainerOptions,
  type StackedPredict,
  serveContainer,
} from './remote/serve-container.js';
export type { ReplicaStatus } from './replica.js';
export type { Rows } from './rows.js';
export type { ArmState } from './selection/arm-statistics.js';
export { type CombineMode, labelReward, weightedCombine } from './selection/combination.js';
export type { SelectionDecision } from './selection/decision-log.js';
export { type EpsilonGreedyOptions, EpsilonGreedyPolicy } from './selection/epsilon-greedy.js';
export { type Exp3Options, Exp3Policy, type Exp3State } from './selection/exp3.js';
export { type Exp4Options, Exp4Policy, type Exp4State } from './selection/exp4.js';
export { type SelectionFeedback, selectionFeedbackSchema } from './selection/feedback.js';
export {
  DEFAULT_POLICY,
  type ModelAnswer,
  ModelSelection,
  type ModelSelectionOptions,
  type QueryTiming,
  type SelectionDetails,
  type SelectionKey,
  type SelectionUpdate,
} from './selection/model-selection.js';
export type {
  Combined,
  JsonValue,
  PolicyFeedback,
  Selection,
  SelectionContext,
  SelectionPolicy,
} from './selection/policy.js';
export { SelectionError } from './selection/selection-error.js';
export {
  SELECTION_BUCKET,
  SelectionStateStore,
  type SelectionStateStoreOptions,
  SHARED_CONTEXT,
  type StoredSelectionState,
  type VersionedState,
} from './selection/state-store.js';
export { Ucb1Policy } from './selection/ucb1.js';
export { ServingError } from './serving-error.js';
export type { InputSpec } from './stack.js';
export {
  type TfjsModelSource,
  TfjsPredictor,
  type TfjsPredictorOptions,
  type TfModelArtifacts,
} from './tfjs-predictor.js';
export type { VersionStats } from './version-stats.js';
