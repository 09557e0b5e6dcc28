import type { Tensor } from '@geoml/core';
import type { Clipper, PredictModelOptions } from '../clipper.js';
import type { ModelVersionInfo } from '../deployments.js';
import { HttpError } from './http-error.js';
import {
  BINARY_EXTENSION,
  binarySize,
  type InferBody,
  sliceBinary,
  tensorBytes,
  tensorFromBinary,
  wantsBinary,
} from './oip-binary.js';
import { type JsonTensor, oipDatatype, tensorFromJson, tensorToJson } from './oip-tensor.js';
import { signatureOf } from './signature.js';

/**
 * What the Open Inference Protocol v2 routes answer: a status and a JSON body, followed by `binary` (the
 * binary outputs' bytes, in output order) when the request asked for binary outputs.
 */
export interface OipReply {
  readonly status: number;
  readonly body: unknown;
  readonly binary?: readonly Uint8Array[];
}

const ok = (body: unknown): OipReply => ({ status: 200, body });

/** Routes `/v2/...` (path split on '/', without the leading 'v2'); undefined when no route matches. */
export async function openInference(
  clipper: Clipper,
  method: string,
  parts: readonly string[],
  readBody: () => Promise<InferBody>,
): Promise<OipReply | undefined> {
  if (parts.length === 0 && method === 'GET') {
    return ok({ name: 'geoml', version: '0.1.0', extensions: [BINARY_EXTENSION] });
  }
  if (parts[0] === 'health' && parts.length === 2 && method === 'GET') {
    if (parts[1] === 'live') return ok({ live: true });
    if (parts[1] === 'ready') {
      const ready = !clipper.closed;
      return { status: ready ? 200 : 503, body: { ready } };
    }
    return undefined;
  }
  if (parts[0] !== 'models' || parts.length < 2) return undefined;
  const model = decodeURIComponent(parts[1]!);
  let rest = parts.slice(2);
  let version: string | undefined;
  if (rest[0] === 'versions') {
    if (rest.length < 2) return undefined;
    version = decodeURIComponent(rest[1]!);
    rest = rest.slice(2);
  }
  const info = versionOf(clipper, model, version);
  if (rest.length === 0 && method === 'GET') return ok(metadata(clipper, model, info));
  if (rest.length === 1 && rest[0] === 'ready' && method === 'GET') {
    const ready = clipper.isReady(model, version);
    return { status: ready ? 200 : 503, body: { name: model, ready } };
  }
  if (rest.length === 1 && rest[0] === 'infer' && method === 'POST') {
    // Without a version in the path the request is live traffic (a canary's share may answer it); the
    // reply names the version that did.
    return infer(clipper, model, version, info.version, await readBody());
  }
  return undefined;
}

function versionOf(clipper: Clipper, model: string, version: string | undefined): ModelVersionInfo {
  // Per request: one version's info, not the whole model's; the error path lists the rest.
  const found = clipper.getModelVersion(model, version);
  if (found) return found;
  const info = clipper.getModel(model);
  const v = info.versions.find((x) => x.version === (version ?? info.servingVersion));
  if (!v) {
    throw new HttpError(
      404,
      version === undefined
        ? `model ${model} has no serving version`
        : `model ${model} has no version ${version} (deployed: ${info.versions.map((x) => x.version).join(', ')})`,
    );
  }
  return v;
}

function metadata(clipper: Clipper, model: string, v: ModelVersionInfo): unknown {
  const sig = signatureOf(clipper, model, v.version);
  const batched = (t: { name: string; datatype: string; shape: readonly number[] }) => ({
    name: t.name,
    datatype: t.datatype,
    shape: [-1, ...t.shape],
  });
  return {
    name: model,
    versions: clipper.getModel(model).versions.map((x) => x.version),
    platform: typeof v.metadata.platform === 'string' ? v.metadata.platform : 'geoml',
    inputs: sig?.inputs.map(batched) ?? [],
    outputs: sig?.outputs.map(batched) ?? [],
  };
}

async function infer(
  clipper: Clipper,
  model: string,
  pinned: string | undefined,
  serving: string,
  { header: body, binary, hasHeaderLength }: InferBody,
): Promise<OipReply> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'body must be a JSON object with "inputs"');
  }
  const req = body as { id?: unknown; inputs?: unknown; outputs?: unknown; parameters?: unknown };
  if (!Array.isArray(req.inputs) || req.inputs.length === 0) {
    throw new HttpError(400, '"inputs" must be a non-empty array of { name, shape, datatype, data }');
  }
  // Plain loops and no per-input copies: this runs once per request, for one row as often as for many.
  const inputs = req.inputs as (Partial<JsonTensor> & { name: string; parameters?: unknown })[];
  const sizes: (number | undefined)[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i];
    if (!t || typeof t !== 'object' || typeof t.name !== 'string' || t.name.length === 0) {
      throw new HttpError(400, `inputs[${i}] must have a "name"`);
    }
    sizes.push(binarySize(t));
  }
  const bytes = sliceBinary(binary, inputs, sizes, hasHeaderLength);
  // The request's batch travels as one query: rows are copied once into a model batch, never split here.
  const rows: Record<string, Tensor> = {};
  let batch: number | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i]!;
    if (t.name in rows) throw new HttpError(400, `input '${t.name}' appears twice`);
    const part = bytes[i];
    const tensor = part
      ? tensorFromBinary(t.name, t.datatype, t.shape, part)
      : tensorFromJson(t.name, t.datatype, t.shape, t.data);
    const n = tensor.shape[0];
    if (n === undefined) throw new HttpError(400, `input '${t.name}': needs a batch dimension first`);
    if (n === 0) throw new HttpError(400, `input '${t.name}' has batch size 0; send at least one row`);
    if (batch !== undefined && n !== batch) {
      throw new HttpError(400, `input '${t.name}' has batch size ${n}, other inputs ${batch}`);
    }
    batch = n;
    rows[t.name] = tensor;
  }
  const params = req.parameters;
  if (params !== undefined && (!params || typeof params !== 'object' || Array.isArray(params))) {
    throw new HttpError(400, 'request: "parameters" must be an object');
  }
  const requested = requestedOutputs(req.outputs);
  // Parameter errors are the client's: found before the model runs.
  if (requested) for (const name of requested.keys()) binaryOf(params, requested, name);
  else binaryOf(params, requested, '');
  const timeoutMs = timeoutOf(params);
  const options: PredictModelOptions =
    pinned === undefined
      ? timeoutMs === undefined
        ? {}
        : { timeoutMs }
      : timeoutMs === undefined
        ? { version: pinned }
        : { version: pinned, timeoutMs };
  const result = await clipper.predictModelBatch(model, rows, options);
  const version = result.version ?? pinned ?? serving;
  if (result.default) {
    throw new HttpError(503, `model ${model}:${version} did not answer: ${result.defaultExplanation}`);
  }
  const outputs = result.output as Record<string, Tensor>;
  const wanted = requested ? [...requested.keys()] : Object.keys(outputs);
  const outs: unknown[] = [];
  let binaryParts: Uint8Array[] | undefined;
  for (const name of wanted) {
    const t = outputs[name];
    if (!t) {
      throw new HttpError(400, `model ${model} has no output '${name}' (${Object.keys(outputs).join(', ')})`);
    }
    if (!binaryOf(params, requested, name)) {
      outs.push(tensorToJson(name, t));
      continue;
    }
    // A view of the model's batch: the answer's one copy is the write into the response.
    const data = tensorBytes(t);
    binaryParts ??= [];
    binaryParts.push(data);
    outs.push({
      name,
      shape: t.shape,
      datatype: oipDatatype(t.dtype),
      parameters: { binary_data_size: data.length },
    });
  }
  const answer: Record<string, unknown> = { model_name: model, model_version: version };
  if (req.id !== undefined) answer.id = String(req.id);
  answer.outputs = outs;
  return binaryParts ? { status: 200, body: answer, binary: binaryParts } : { status: 200, body: answer };
}

const binaryOf = (params: unknown, requested: Map<string, unknown> | undefined, name: string) =>
  wantsBinary(params, requested?.get(name), name);

/**
 * Triton's request parameter `timeout` (µs) as the request's deadline; without it, the server's
 * `modelTimeoutMs` applies.
 */
function timeoutOf(params: unknown): number | undefined {
  const timeout = (params as { timeout?: unknown } | undefined)?.timeout;
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !Number.isSafeInteger(timeout) || timeout <= 0) {
    throw new HttpError(400, 'request: timeout must be a positive integer of microseconds');
  }
  return timeout / 1000;
}

/** The request's `outputs` by name with their parameters, or undefined when it asks for all. */
function requestedOutputs(outputs: unknown): Map<string, unknown> | undefined {
  if (outputs === undefined) return undefined;
  if (!Array.isArray(outputs)) throw new HttpError(400, '"outputs" must be an array of { name }');
  const byName = new Map<string, unknown>();
  for (const [i, o] of outputs.entries()) {
    const name = (o as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || name.length === 0) {
      throw new HttpError(400, `outputs[${i}] must have a "name"`);
    }
    byName.set(name, (o as { parameters?: unknown }).parameters);
  }
  return byName;
}
