// Public API of @geoml/clipper. Every public name is listed here; files not named stay internal.

export { ContainerError, type ContainerErrorCode } from './errors.js';
export {
  type OnnxModelSource,
  OnnxPredictor,
  type OnnxPredictorConfig,
  onnxPredictorConfigSchema,
} from './onnx-predictor.js';
export type { InputSpec } from './stack.js';
