import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { Clipper, FunctionPredictor, HttpFrontend, OnnxPredictor } from '../src/index.js';
import { signatureOf } from './http-fixtures.js';

const mlp = buildOnnxModel('mlp-s');
const signature = signatureOf(mlp);

describe('Clipper REST predict with a raw application/octet-stream body', () => {
  let clipper: Clipper;
  let server: HttpFrontend;
  const predict = async (app: string, body: Uint8Array, type = 'application/octet-stream') => {
    const res = await fetch(`${server.url}/${app}/predict`, {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

  beforeAll(async () => {
    clipper = new Clipper();
    const onnx = async () => [await OnnxPredictor.create(mlp.bytes)];
    await clipper.deployModel('digits', 1, await onnx(), { inputType: 'tensor', metadata: { signature } });
    await clipper.deployModel('unsigned', 1, await onnx(), { inputType: 'tensor' });
    await clipper.deployModel(
      'length',
      1,
      [
        new FunctionPredictor(async (xs: readonly Uint8Array[]) =>
          xs.map((x) => ({ bytes: x.length, first: x[0] })),
        ),
      ],
      { inputType: 'bytes' },
    );
    await clipper.deployModel('echo', 1, [new FunctionPredictor(async (xs: readonly unknown[]) => xs)], {
      inputType: 'json',
    });
    for (const [name, inputType] of [
      ['digits', 'tensor'],
      ['unsigned', 'tensor'],
      ['length', 'bytes'],
      ['echo', 'json'],
    ] as const) {
      clipper.registerApplication({ name, inputType, latencySloMs: 2000, linkedModels: [name] });
    }
    server = await HttpFrontend.start(clipper);
  });

  afterAll(async () => {
    await server.close();
    await clipper.close();
  });

  it('reads the body as the one input of the model, shaped by its signature', async () => {
    const x = sampleInput(mlp, 21);
    const { status, body } = await predict('digits', bytesOf(x));
    expect(status).toBe(200);
    expect(body.default).toBe(false);
    const expected = referenceMlp(mlp.layers, x);
    for (const [i, v] of (body.output as number[]).entries()) expect(v).toBeCloseTo(expected[i]!, 3);
  });

  it('hands a bytes application the body as it is', async () => {
    const { status, body } = await predict('length', new Uint8Array([7, 1, 2, 3, 4]));
    expect(status).toBe(200);
    expect(body.output).toEqual({ bytes: 5, first: 7 });
  });

  it('refuses what a raw body cannot fill, naming the problem', async () => {
    const short = await predict('digits', new Uint8Array(3000));
    expect(short.status).toBe(400);
    expect(String(short.body.error)).toMatch(
      /3000 bytes of data do not match shape \[784\] of FP32 \(3136 bytes\)/,
    );
    const unsigned = await predict('unsigned', bytesOf(sampleInput(mlp, 1)));
    expect(unsigned.status).toBe(400);
    expect(String(unsigned.body.error)).toMatch(/needs the model signature/);
    const json = await predict('echo', new Uint8Array([1]));
    expect(json.status).toBe(415);
    expect(String(json.body.error)).toMatch(/takes json input/);
    // A JSON body on the same route is still JSON.
    const asJson = await predict('echo', new TextEncoder().encode('{"input": 3}'), 'application/json');
    expect(asJson).toMatchObject({ status: 200, body: { output: 3 } });
  });
});
