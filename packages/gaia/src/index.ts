// Public API of @geoml/gaia. Every public name is listed here; files not named stay internal.

export { type CalibrateOptions, CostModel, type CostModelSpec, calibrate } from './cost-model.js';
export { type Mode, planDeployment, type RegionPlan } from './deployment.js';
export { GaiaError } from './errors.js';
export type { LayersModel } from './layers-mlp.js';
export { createLda, type LdaBatch, type LdaOptions, type LdaWorkload, ldaOptionsSchema } from './lda.js';
export type { LdaDocument } from './lda-document.js';
export { LinkBacklog } from './link-backlog.js';
export { LinkMeter, type LinkTraffic } from './link-meter.js';
export {
  createMatrixFactorization,
  type MatrixFactorizationOptions,
  type MatrixFactorizationWorkload,
  matrixFactorizationOptionsSchema,
  type RatingsBatch,
} from './matrix-factorization.js';
export { MirrorClock } from './mirror-clock.js';
export {
  createMnistClassifier,
  type DigitsBatch,
  type MnistClassifierOptions,
  type MnistClassifierWorkload,
  mnistClassifierOptionsSchema,
} from './mnist-classifier.js';
export { loadMnistDigits, type MnistDigits } from './mnist-data.js';
export {
  GAIA_EC2_11_GROUPS,
  type Overlay,
  type OverlayGroup,
  type OverlayRole,
  overlayRole,
  overlaySchema,
  resolveOverlay,
} from './overlay.js';
export { type KeyRange, ParameterLayout } from './param-layout.js';
export { type Delta, ParameterShard, type SparseDelta } from './parameter-shard.js';
export { type OnnxExport, type PublishModelOptions, publishModel } from './publish.js';
export { Region, type RegionOptions } from './region.js';
export { SelectiveBarrier } from './selective-barrier.js';
export { type BlockedTime, ShardServer } from './shard-server.js';
export {
  SignificanceFilter,
  type SignificanceFilterOptions,
  type SignificantUpdates,
  type UpdateEncoding,
} from './significance-filter.js';
export { mayRead, type SyncPolicy, stalenessBound } from './sync-policy.js';
export {
  ThresholdController,
  type ThresholdControllerOptions,
  type ThresholdRule,
} from './threshold-controller.js';
export { type TrainConfig, type TrainConfigInput, trainConfigSchema } from './train-config.js';
export {
  type ProgressEvent,
  type QualityPoint,
  type TrainOptions,
  type TrainResult,
  train,
} from './trainer.js';
export { chooseLayout, type LayoutCounts, type UpdateLayout } from './update-coding.js';
export { Worker } from './worker.js';
export {
  type DataShard,
  type DataSplit,
  type Workload,
  type WorkloadDescription,
  WorkloadError,
} from './workload.js';
