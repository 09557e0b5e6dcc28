import type { Tensor } from '@geoml/core';
import { isTensor } from '../application.js';
import type { Clipper } from '../clipper.js';
import type { ModelVersionInfo } from '../deployments.js';
import { HttpError } from './http-error.js';
import { type JsonTensor, rebatch, tensorFromJson, tensorToJson, unbatch } from './oip-tensor.js';
import { signatureOf } from './signature.js';

/** What the Open Inference Protocol v2 routes answer: a status and a JSON body. */
export interface OipReply {
  readonly status: number;
  readonly body: unknown;
}

const ok = (body: unknown): OipReply => ({ status: 200, body });

/** Routes `/v2/...` (path split on '/', without the leading 'v2'); undefined when no route matches. */
export async function openInference(
  clipper: Clipper,
  method: string,
  parts: readonly string[],
  readBody: () => Promise<unknown>,
): Promise<OipReply | undefined> {
  if (parts.length === 0 && method === 'GET') {
    return ok({ name: 'geoml', version: '0.1.0', extensions: [] });
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
    return ok(await infer(clipper, model, info.version, await readBody()));
  }
  return undefined;
}

function versionOf(clipper: Clipper, model: string, version: string | undefined): ModelVersionInfo {
  const info = clipper.getModel(model);
  const wanted = version ?? info.servingVersion;
  const v = info.versions.find((x) => x.version === wanted);
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

async function infer(clipper: Clipper, model: string, version: string, body: unknown): Promise<unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'body must be a JSON object with "inputs"');
  }
  const req = body as { id?: unknown; inputs?: unknown; outputs?: unknown };
  if (!Array.isArray(req.inputs) || req.inputs.length === 0) {
    throw new HttpError(400, '"inputs" must be a non-empty array of { name, shape, datatype, data }');
  }
  const perInput = new Map<string, Tensor[]>();
  let batch: number | undefined;
  for (const [i, raw] of req.inputs.entries()) {
    const t = raw as Partial<JsonTensor> | null;
    if (!t || typeof t !== 'object' || typeof t.name !== 'string' || t.name.length === 0) {
      throw new HttpError(400, `inputs[${i}] must have a "name"`);
    }
    if (perInput.has(t.name)) throw new HttpError(400, `input '${t.name}' appears twice`);
    const tensor = tensorFromJson(t.name, t.datatype, t.shape, t.data);
    const parts = unbatch(tensor, t.name);
    if (batch !== undefined && parts.length !== batch) {
      throw new HttpError(400, `input '${t.name}' has batch size ${parts.length}, other inputs ${batch}`);
    }
    batch = parts.length;
    perInput.set(t.name, parts);
  }
  const queries = Array.from({ length: batch ?? 0 }, (_, b) =>
    Object.fromEntries([...perInput].map(([name, parts]) => [name, parts[b]!])),
  );
  const results = await Promise.all(queries.map((q) => clipper.predictModel(model, q, { version })));
  const failed = results.find((r) => r.default);
  if (failed) {
    throw new HttpError(503, `model ${model}:${version} did not answer: ${failed.defaultExplanation}`);
  }
  const outputs = results.map((r) => r.output as Record<string, Tensor>);
  const names = Object.keys(outputs[0] ?? {}).filter((n) => isTensor(outputs[0]![n]));
  const wanted = Array.isArray(req.outputs)
    ? (req.outputs as { name?: unknown }[]).map((o) => String(o?.name))
    : names;
  for (const w of wanted) {
    if (!names.includes(w))
      throw new HttpError(400, `model ${model} has no output '${w}' (${names.join(', ')})`);
  }
  return {
    model_name: model,
    model_version: version,
    ...(req.id === undefined ? {} : { id: String(req.id) }),
    outputs: wanted.map((name) => tensorToJson(name, rebatch(outputs.map((o) => o[name]!)))),
  };
}
