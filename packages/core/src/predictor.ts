/**
 * A model as serving sees it: a batch of inputs in, one output per input out, in order. Every container
 * (onnxruntime in a worker thread, tfjs, a plain function, a remote process) is a `Predictor`.
 */
export interface Predictor<I = unknown, O = unknown> {
  predict(inputs: readonly I[]): Promise<O[]>;
  /** Releases sessions, tensors and threads. Calling `predict` afterwards is an error. */
  dispose?(): Promise<void>;
}
