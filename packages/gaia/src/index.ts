// Public API of @geoml/gaia. Every public name is listed here; files not named stay internal.

export {
  createLda,
  type LdaBatch,
  type LdaDocument,
  type LdaOptions,
  type LdaWorkload,
  ldaOptionsSchema,
} from './lda.js';
export {
  createMatrixFactorization,
  type MatrixFactorizationOptions,
  type MatrixFactorizationWorkload,
  matrixFactorizationOptionsSchema,
  type RatingsBatch,
} from './matrix-factorization.js';
export {
  createMnistClassifier,
  type DigitsBatch,
  type LayersModel,
  type MnistClassifierOptions,
  type MnistClassifierWorkload,
  mnistClassifierOptionsSchema,
} from './mnist-classifier.js';
export {
  type DataShard,
  type DataSplit,
  type Workload,
  type WorkloadDescription,
  WorkloadError,
} from './workload.js';
