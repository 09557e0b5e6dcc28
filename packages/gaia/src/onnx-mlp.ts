/**
 * Writes a multilayer perceptron as an ONNX model (a serialized `onnx.ModelProto`), with a protobuf
 * writer of its own: the few message types an MLP needs do not justify a runtime dependency on a
 * protobuf library. Field numbers follow onnx/onnx.proto (IR version 8, default-domain opset 13).
 */

/** One dense layer `y = act(x · kernel + bias)`, kernel row-major [inputs, outputs]; named `name/kernel`, `name/bias`. */
export interface DenseLayerSpec {
  readonly name: string;
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
  readonly inputs: number;
  readonly outputs: number;
  readonly activation: 'relu' | 'linear';
}

/** A multilayer perceptron to export (to ONNX here, to tfjs-layers in `layers-mlp.ts`). */
export interface MlpSpec {
  readonly graphName: string;
  readonly inputName: string;
  readonly outputName: string;
  readonly layers: readonly DenseLayerSpec[];
  /** Apply softmax over the last axis to the final layer's output. */
  readonly softmax: boolean;
  readonly producerVersion: string;
}

const IR_VERSION = 8;
const OPSET = 13;
const FLOAT = 1; // onnx.TensorProto.DataType.FLOAT
const utf8 = new TextEncoder();

function varint(value: number): number[] {
  const out: number[] = [];
  let n = value;
  while (n > 0x7f) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A varint field (wire type 0). */
function num(field: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(field << 3), ...varint(value)]);
}

/** A length-delimited field (wire type 2): bytes, a string or an embedded message. */
function bytes(field: number, value: Uint8Array | string): Uint8Array {
  const data = typeof value === 'string' ? utf8.encode(value) : value;
  return concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(data.length)]), data]);
}

function message(...fields: Uint8Array[]): Uint8Array {
  return concat(fields);
}

/** TensorProto of a float32 initializer, values as little-endian raw_data. */
function initializer(name: string, dims: readonly number[], values: Float32Array): Uint8Array {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return message(...dims.map((d) => num(1, d)), num(2, FLOAT), bytes(8, name), bytes(9, raw));
}

/** ValueInfoProto of a float32 tensor [batch, features] with a symbolic batch dimension. */
function batchedFloat(name: string, features: number): Uint8Array {
  const shape = message(bytes(1, message(bytes(2, 'batch'))), bytes(1, message(num(1, features))));
  const tensorType = message(num(1, FLOAT), bytes(2, shape));
  return message(bytes(1, name), bytes(2, message(bytes(1, tensorType))));
}

function node(op: string, inputs: readonly string[], output: string): Uint8Array {
  return message(...inputs.map((i) => bytes(1, i)), bytes(2, output), bytes(3, output), bytes(4, op));
}

/** The serialized ModelProto of `spec`, loadable by onnxruntime's `InferenceSession.create(bytes)`. */
export function encodeOnnxMlp(spec: MlpSpec): Uint8Array {
  const nodes: Uint8Array[] = [];
  const inits: Uint8Array[] = [];
  let current = spec.inputName;
  spec.layers.forEach((layer, l) => {
    const kernel = `${layer.name}/kernel`;
    const bias = `${layer.name}/bias`;
    inits.push(initializer(kernel, [layer.inputs, layer.outputs], layer.kernel));
    inits.push(initializer(bias, [layer.outputs], layer.bias));
    const last = l === spec.layers.length - 1;
    nodes.push(node('MatMul', [current, kernel], `${layer.name}/matmul`));
    const sum =
      last && !spec.softmax && layer.activation === 'linear' ? spec.outputName : `${layer.name}/add`;
    nodes.push(node('Add', [`${layer.name}/matmul`, bias], sum));
    current = sum;
    if (layer.activation === 'relu') {
      const out = last && !spec.softmax ? spec.outputName : `${layer.name}/relu`;
      nodes.push(node('Relu', [current], out));
      current = out;
    }
  });
  // Softmax-13 normalises over the last axis by default.
  if (spec.softmax) nodes.push(node('Softmax', [current], spec.outputName));
  const first = spec.layers[0];
  const lastLayer = spec.layers[spec.layers.length - 1];
  const graph = message(
    ...nodes.map((n) => bytes(1, n)),
    bytes(2, spec.graphName),
    ...inits.map((t) => bytes(5, t)),
    bytes(11, batchedFloat(spec.inputName, first?.inputs ?? 0)),
    bytes(12, batchedFloat(spec.outputName, lastLayer?.outputs ?? 0)),
  );
  return message(
    num(1, IR_VERSION),
    bytes(2, 'geoml'),
    bytes(3, spec.producerVersion),
    bytes(7, graph),
    bytes(8, message(num(2, OPSET))),
  );
}
