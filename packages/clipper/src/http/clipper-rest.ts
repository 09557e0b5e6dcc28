import { BYTES_PER_ELEMENT, type Tensor } from '@geoml/core';
import { isTensor } from '../application.js';
import type { Clipper } from '../clipper.js';
import type { PredictionResult } from '../query.js';
import { HttpError } from './http-error.js';
import { tensorFromBinary } from './oip-binary.js';
import { dtypeOf } from './oip-tensor.js';
import { signatureOf, tensorInput } from './signature.js';

/**
 * Clipper's query REST API: `POST /<app>/predict` with `input` (one query) or `input_batch` (several),
 * answering `{ query_id, output, default, default_explanation? }` (or `{ batch_predictions: [...] }`), and
 * `POST /<app>/update` with feedback.
 */
export async function restPredict(clipper: Clipper, appName: string, body: unknown): Promise<unknown> {
  const app = clipper.getApplication(appName);
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'body must be a JSON object with "input" or "input_batch"');
  }
  const {
    input,
    input_batch: batch,
    uid,
    context,
  } = body as {
    input?: unknown;
    input_batch?: unknown;
    uid?: unknown;
    context?: unknown;
  };
  if (uid !== undefined && typeof uid !== 'string' && typeof uid !== 'number') {
    throw new HttpError(400, '"uid" must be a string or a number');
  }
  if (context !== undefined && typeof context !== 'string')
    throw new HttpError(400, '"context" must be a string');
  if ((input === undefined) === (batch === undefined)) {
    throw new HttpError(400, 'body must have exactly one of "input" and "input_batch"');
  }
  if (batch !== undefined && (!Array.isArray(batch) || batch.length === 0)) {
    throw new HttpError(400, '"input_batch" must be a non-empty array of inputs');
  }
  const raw = batch === undefined ? [input] : (batch as unknown[]);
  const model = app.linkedModels[0];
  const sig = app.inputType === 'tensor' && model ? signatureOf(clipper, model) : undefined;
  const inputs = raw.map((x, i) => {
    try {
      return decodeInput(app.inputType, x, sig);
    } catch (err) {
      if (err instanceof HttpError && batch !== undefined)
        throw new HttpError(400, `input_batch[${i}]: ${err.message}`);
      throw err;
    }
  });
  const who = { ...(uid === undefined ? {} : { uid }), ...(context === undefined ? {} : { context }) };
  const results = await Promise.all(inputs.map((x) => clipper.predict(app.name, x, who)));
  const answers = results.map(answer);
  return batch === undefined ? answers[0] : { batch_predictions: answers };
}

/**
 * `POST /<app>/predict` with `content-type: application/octet-stream`: the body is one query's input as
 * raw bytes. For a `bytes` application, those bytes; for a `tensor` application whose model has one
 * input, that input's little-endian row-major data, its datatype and per-query shape from the model's
 * signature (a single free dimension follows from the length). Answers as a JSON `input` would; several
 * queries in one binary request go through the Open Inference Protocol's binary extension instead.
 */
export async function restPredictRaw(clipper: Clipper, appName: string, body: Buffer): Promise<unknown> {
  const app = clipper.getApplication(appName);
  let input: unknown;
  if (app.inputType === 'bytes') input = new Uint8Array(body.buffer, body.byteOffset, body.length);
  else if (app.inputType === 'tensor') input = rawTensorInput(clipper, app.linkedModels[0], body);
  else {
    throw new HttpError(
      415,
      `application ${appName} takes ${app.inputType} input; send application/octet-stream only to bytes or tensor applications`,
    );
  }
  return answer(await clipper.predict(app.name, input));
}

function rawTensorInput(clipper: Clipper, model: string | undefined, body: Buffer): Record<string, Tensor> {
  const sig = model ? signatureOf(clipper, model) : undefined;
  if (!sig) {
    throw new HttpError(
      400,
      'a raw body needs the model signature (metadata.signature) for its datatype and shape',
    );
  }
  if (sig.inputs.length !== 1) {
    throw new HttpError(
      400,
      `model ${model} has ${sig.inputs.length} inputs; a raw body fills one (use the Open Inference Protocol)`,
    );
  }
  const spec = sig.inputs[0]!;
  const width = BYTES_PER_ELEMENT[dtypeOf(spec.datatype, `model input '${spec.name}'`)];
  const known = spec.shape.reduce((n, d) => (d >= 0 ? n * d : n), 1);
  const free = spec.shape.filter((d) => d < 0).length;
  if (free > 1) throw new HttpError(400, `model input '${spec.name}' has several free dimensions`);
  const count = body.length / width;
  const shape = spec.shape.map((d) => (d >= 0 ? d : known > 0 ? Math.floor(count / known) : 0));
  return { [spec.name]: tensorFromBinary(spec.name, spec.datatype, shape, body) };
}

/** Feedback is stored (in the selection state when the application learns) before the reply. */
export async function restUpdate(clipper: Clipper, appName: string, body: unknown): Promise<unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'feedback must be a JSON object, e.g. { "uid": 1, "input": [...], "label": 1 }');
  }
  await clipper.update(appName, body);
  return { feedback_received: true };
}

function decodeInput(inputType: string, input: unknown, sig: ReturnType<typeof signatureOf>): unknown {
  switch (inputType) {
    case 'tensor':
      return tensorInput(input, sig);
    case 'bytes':
      if (typeof input !== 'string') throw new HttpError(400, 'input must be a base64 string of bytes');
      return new Uint8Array(Buffer.from(input, 'base64'));
    case 'string':
      if (typeof input !== 'string') throw new HttpError(400, 'input must be a string');
      return input;
    default:
      return input;
  }
}

function answer(r: PredictionResult): Record<string, unknown> {
  const out: Record<string, unknown> = {
    query_id: r.queryId,
    output: outputToJson(r.output),
    default: r.default,
  };
  if (r.default) out.default_explanation = r.defaultExplanation;
  // Ensembles say which models answered, which were missing at the deadline, and how far they agreed.
  if (r.models) out.models = r.models;
  if (r.missing && r.missing.length > 0) out.missing = r.missing;
  if (r.confidence !== undefined) out.confidence = r.confidence;
  return out;
}

/** Model outputs as JSON: a tensor as its flat data, a record of one tensor as that tensor, bytes as base64. */
export function outputToJson(output: unknown): unknown {
  if (isTensor(output)) return Array.from((output as Tensor).data as ArrayLike<number>, Number);
  if (output instanceof Uint8Array) return Buffer.from(output).toString('base64');
  if (output && typeof output === 'object' && !Array.isArray(output)) {
    const entries = Object.entries(output);
    if (entries.length > 0 && entries.every(([, v]) => isTensor(v))) {
      if (entries.length === 1) return outputToJson(entries[0]![1]);
      return Object.fromEntries(entries.map(([k, v]) => [k, outputToJson(v)]));
    }
  }
  return output;
}
