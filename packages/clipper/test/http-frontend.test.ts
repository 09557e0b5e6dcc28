import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { Clipper, FunctionPredictor, HttpFrontend, OnnxPredictor, PrometheusMetrics } from '../src/index.js';
import { signatureOf } from './http-fixtures.js';

const mlp = buildOnnxModel('mlp-s');
const signature = signatureOf(mlp);

describe('HTTP frontend', () => {
  let clipper: Clipper;
  let server: HttpFrontend;
  let metrics: PrometheusMetrics;

  const post = async (path: string, body: unknown, raw?: string) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ?? JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`);
    const text = await res.text();
    return { status: res.status, text, body: text.startsWith('{') ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    metrics = new PrometheusMetrics();
    clipper = new Clipper({ metrics });
    await clipper.deployModel('digits', 1, [await OnnxPredictor.create(mlp.bytes)], {
      inputType: 'tensor',
      metadata: { signature, platform: 'onnxruntime' },
    });
    await clipper.deployModel(
      'echo',
      1,
      [new FunctionPredictor(async (xs: readonly unknown[]) => xs.map((x) => ({ echoed: x })))],
      { inputType: 'json' },
    );
    clipper.registerApplication({
      name: 'digits',
      inputType: 'tensor',
      latencySloMs: 2000,
      linkedModels: ['digits'],
    });
    clipper.registerApplication({
      name: 'echo',
      inputType: 'json',
      latencySloMs: 1000,
      linkedModels: ['echo'],
    });
    server = await HttpFrontend.start(clipper, { metrics, maxBodyBytes: 64 * 1024 });
  });

  afterAll(async () => {
    await server.close();
    await clipper.close();
  });

  it('answers Clipper REST predict with the model output', async () => {
    const x = sampleInput(mlp, 1);
    const { status, body } = await post('/digits/predict', { input: Array.from(x) });
    expect(status).toBe(200);
    expect(body.default).toBe(false);
    expect(typeof body.query_id).toBe('number');
    const expected = referenceMlp(mlp.layers, x);
    for (const [i, v] of (body.output as number[]).entries()) expect(v).toBeCloseTo(expected[i]!, 3);
  });

  it('answers input_batch with one prediction per input', async () => {
    const xs = [sampleInput(mlp, 2), sampleInput(mlp, 3), sampleInput(mlp, 4)];
    const { status, body } = await post('/digits/predict', { input_batch: xs.map((x) => Array.from(x)) });
    expect(status).toBe(200);
    const preds = body.batch_predictions as { output: number[] }[];
    expect(preds).toHaveLength(3);
    for (const [b, p] of preds.entries())
      expect(p.output[0]).toBeCloseTo(referenceMlp(mlp.layers, xs[b]!)[0]!, 3);
  });

  it('serves JSON applications and stores feedback', async () => {
    const { body } = await post('/echo/predict', { input: { a: [1, 2] } });
    expect(body.output).toEqual({ echoed: { a: [1, 2] } });
    const fb = await post('/echo/update', { uid: 7, input: { a: 1 }, label: 1 });
    expect(fb).toEqual({ status: 200, body: { feedback_received: true } });
    expect(clipper.feedback('echo').at(-1)?.feedback).toEqual({ uid: 7, input: { a: 1 }, label: 1 });
  });

  it('refuses bad input with a 4xx naming the problem, and keeps serving', async () => {
    const cases: [string, unknown, string | undefined, number, RegExp][] = [
      ['/digits/predict', undefined, '{"input": [1, 2', 400, /malformed JSON/],
      ['/digits/predict', { input: [1, 2, 3] }, undefined, 400, /shape \[784\] needs 784 values, got 3/],
      ['/digits/predict', { input: ['a'] }, undefined, 400, /not a finite number|needs 784/],
      ['/digits/predict', { nothing: 1 }, undefined, 400, /exactly one of "input" and "input_batch"/],
      ['/nope/predict', { input: [1] }, undefined, 404, /no application named "nope"/],
      ['/digits/predict', { input: new Array(20_000).fill(0.5) }, undefined, 413, /over the limit/],
      ['/v2/models/nope/infer', { inputs: [] }, undefined, 404, /nope/],
      [
        '/v2/models/digits/infer',
        { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP99', data: [] }] },
        undefined,
        400,
        /unsupported datatype "FP99"/,
      ],
      [
        '/admin/add_app',
        { name: 'bad app!', input_type: 'json', latency_slo_ms: 10 },
        undefined,
        400,
        /name/,
      ],
    ];
    for (const [path, body, raw, status, message] of cases) {
      const res = await post(path, body, raw);
      expect({ path, status: res.status }).toEqual({ path, status });
      expect(String(res.body.error)).toMatch(message);
    }
    expect((await post('/echo/predict', { input: 1 })).status).toBe(200);
  });

  it('speaks the Open Inference Protocol v2', async () => {
    expect((await get('/v2/health/live')).status).toBe(200);
    expect((await get('/v2/health/ready')).body).toEqual({ ready: true });
    expect((await get('/v2/models/digits/ready')).status).toBe(200);
    expect((await get('/v2/models/digits/versions/9/ready')).status).toBe(404);
    const meta = (await get('/v2/models/digits')).body;
    expect(meta).toMatchObject({
      name: 'digits',
      versions: ['1'],
      platform: 'onnxruntime',
      inputs: [{ name: mlp.inputName, datatype: 'FP32', shape: [-1, 784] }],
    });
    const x = [sampleInput(mlp, 5), sampleInput(mlp, 6)];
    const { status, body } = await post('/v2/models/digits/versions/1/infer', {
      id: 'q1',
      inputs: [{ name: mlp.inputName, shape: [2, 784], datatype: 'FP32', data: [...x[0]!, ...x[1]!] }],
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ model_name: 'digits', model_version: '1', id: 'q1' });
    const [out] = body.outputs as { name: string; shape: number[]; datatype: string; data: number[] }[];
    expect(out).toMatchObject({ name: mlp.outputName, shape: [2, 10], datatype: 'FP32' });
    expect(out!.data[10]).toBeCloseTo(referenceMlp(mlp.layers, x[1]!)[0]!, 3);
  });

  it('manages applications through the admin API', async () => {
    const added = await post('/admin/add_app', {
      name: 'digits2',
      input_type: 'tensor',
      default_output: 'unknown',
      latency_slo_micros: 100_000,
    });
    expect(added.status).toBe(200);
    expect(
      (await post('/admin/add_model_links', { app_name: 'digits2', model_names: ['digits'] })).status,
    ).toBe(200);
    const app = (await get('/admin/get_application?name=digits2')).body;
    expect(app).toMatchObject({ name: 'digits2', latencySloMs: 100, linkedModels: ['digits'] });
    expect(
      (await post('/admin/add_app', { name: 'digits2', input_type: 'json', latency_slo_ms: 5 })).status,
    ).toBe(409);
    expect(
      (await post('/admin/set_model_version', { model_name: 'digits', model_version: '7' })).status,
    ).toBe(404);
  });

  it('sends a canary share of a model to another version through the admin API, and ends it', async () => {
    await clipper.deployModel('echo', 2, [new FunctionPredictor(async (xs: readonly unknown[]) => xs)], {
      inputType: 'json',
      activate: false,
    });
    try {
      const set = await post('/admin/set_canary', { model_name: 'echo', model_version: 2, share: 0.25 });
      expect(set.status).toBe(200);
      expect(set.body).toMatchObject({ servingVersion: '1', canary: { version: '2', share: 0.25 } });
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => post('/echo/predict', { input: i })),
      );
      const versions = answers.map((a) => (a.body.output as { echoed?: unknown }).echoed === undefined);
      expect(versions.filter(Boolean).length).toBe(10);
      const model = (await get('/admin/get_model?model_name=echo')).body;
      const v2 = model.versions.find((v: { version: string }) => v.version === '2');
      expect(v2.stats).toMatchObject({ answered: 10, defaulted: 0, failed: 0 });
      expect(
        (await post('/admin/set_canary', { model_name: 'echo', model_version: 2, share: 1.5 })).status,
      ).toBe(400);
      expect(
        (await post('/admin/set_canary', { model_name: 'echo', model_version: 9, share: 0.5 })).status,
      ).toBe(404);
      const cleared = await post('/admin/clear_canary', { model_name: 'echo' });
      expect(cleared.status).toBe(200);
      expect(cleared.body.canary).toBeUndefined();
    } finally {
      await clipper.undeployModel('echo', 2);
    }
  });

  it('sends OIP infers without a version to the canary in its share, and names the version that answered', async () => {
    await clipper.deployModel('digits', 2, [await OnnxPredictor.create(mlp.bytes)], {
      inputType: 'tensor',
      activate: false,
    });
    try {
      clipper.setCanary('digits', 2, 0.5);
      const body = {
        inputs: [{ name: mlp.inputName, shape: [1, 784], datatype: 'FP32', data: [...sampleInput(mlp, 3)] }],
      };
      const live: string[] = [];
      for (let i = 0; i < 10; i++)
        live.push((await post('/v2/models/digits/infer', body)).body.model_version as string);
      expect(live.filter((v) => v === '2').length).toBe(5);
      expect(live.filter((v) => v === '1').length).toBe(5);
      // A version in the path is not live traffic: no canary.
      const pinned = await post('/v2/models/digits/versions/1/infer', body);
      expect(pinned.body.model_version).toBe('1');
    } finally {
      clipper.clearCanary('digits');
      await clipper.undeployModel('digits', 2);
    }
  });

  it('exports Prometheus histograms of what it served', async () => {
    await post('/digits/predict', { input: Array.from(sampleInput(mlp, 9)) });
    const { status, text } = await get('/metrics');
    expect(status).toBe(200);
    expect(text).toMatch(/geoml_prediction_latency_seconds_bucket\{le="[^"]+",app="digits",model="digits"\}/);
    expect(text).toMatch(/geoml_batch_size_count\{model="digits",version="1"\} [1-9]/);
    expect(text).toMatch(/geoml_predictions_total\{app="digits",model="digits",version="1"\} [1-9]/);
  });
});
