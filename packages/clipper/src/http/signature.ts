import type { Tensor } from '@geoml/core';
import type { Clipper } from '../clipper.js';
import { HttpError } from './http-error.js';
import { flatValues, type OipDatatype, tensorFromJson } from './oip-tensor.js';

/** One named tensor of a model's signature; `shape` is per query (no batch dimension), -1 for a free dim. */
export interface SignatureTensor {
  readonly name: string;
  readonly datatype: OipDatatype;
  readonly shape: readonly number[];
}

/**
 * A model version's inputs and outputs, as deployers attach them in the deployment's
 * `metadata.signature` ({ inputs, outputs }); frontends use it to shape JSON inputs and describe the model.
 */
export interface Signature {
  readonly inputs: readonly SignatureTensor[];
  readonly outputs: readonly SignatureTensor[];
}

export function signatureOf(clipper: Clipper, model: string, version?: string): Signature | undefined {
  const v = clipper.getModelVersion(model, version);
  const sig = v?.metadata.signature as Signature | undefined;
  return sig && Array.isArray(sig.inputs) && Array.isArray(sig.outputs) ? sig : undefined;
}

/**
 * Turns a REST `input` for a tensor application into the record of tensors its model takes: a numeric
 * array (flat or nested) for a single-input model, or an object of arrays keyed by input name. Shapes and
 * datatypes come from the serving version's signature; without one, a flat array becomes float32 `[n]`.
 */
export function tensorInput(input: unknown, sig: Signature | undefined): Record<string, Tensor> {
  const specs = sig?.inputs ?? [{ name: 'input', datatype: 'FP32' as const, shape: [-1] }];
  const byName: Record<string, unknown> =
    Array.isArray(input) && specs.length === 1
      ? { [specs[0]!.name]: input }
      : input && typeof input === 'object' && !Array.isArray(input)
        ? (input as Record<string, unknown>)
        : {};
  const out: Record<string, Tensor> = {};
  for (const spec of specs) {
    const data = byName[spec.name];
    if (!Array.isArray(data)) {
      throw new HttpError(
        400,
        specs.length === 1
          ? `input must be an array of numbers (model input '${spec.name}', shape [${spec.shape.join(', ')}])`
          : `input must be an object with arrays for ${specs.map((s) => `'${s.name}'`).join(', ')}`,
      );
    }
    const values = flatValues(data, `input '${spec.name}'`);
    const count = values.length;
    const known = spec.shape.reduce((n, d) => (d >= 0 ? n * d : n), 1);
    const free = spec.shape.filter((d) => d < 0).length;
    if (free > 1) throw new HttpError(400, `model input '${spec.name}' has several free dimensions`);
    const shape = spec.shape.map((d) => (d >= 0 ? d : known > 0 ? Math.floor(count / known) : 0));
    out[spec.name] = tensorFromJson(spec.name, spec.datatype, shape, values);
  }
  return out;
}
