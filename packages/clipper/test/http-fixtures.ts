import type { OnnxTestModel } from '../../../test/fixtures/onnx-models.js';

/** The deployment signature of a generated ONNX test model, which the HTTP frontends shape inputs by. */
export function signatureOf(model: OnnxTestModel) {
  return {
    inputs: [{ name: model.inputName, datatype: 'FP32', shape: [...model.inputShape] }],
    outputs: [{ name: model.outputName, datatype: 'FP32', shape: [...model.outputShape] }],
  };
}
