import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferBinary } from '../../../docs/examples/oip-binary.js';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { Clipper, HttpFrontend, OnnxPredictor } from '../src/index.js';

const mlp = buildOnnxModel('mlp-s');

// docs/serving.md shows docs/examples/oip-binary.ts as the binary client: it must work against the frontend.
describe('the documented binary OIP client', () => {
  let clipper: Clipper;
  let server: HttpFrontend;

  beforeAll(async () => {
    clipper = new Clipper();
    await clipper.deployModel('digits', 1, [await OnnxPredictor.create(mlp.bytes)], { inputType: 'tensor' });
    server = await HttpFrontend.start(clipper);
  });

  afterAll(async () => {
    await server.close();
    await clipper.close();
  });

  it('gets the model output back as binary float32', async () => {
    const x = sampleInput(mlp, 11);
    const [out] = await inferBinary(server.url, 'digits', { name: mlp.inputName, shape: [1, 784], data: x });
    expect(out).toMatchObject({ name: mlp.outputName, shape: [1, 10] });
    const expected = referenceMlp(mlp.layers, x);
    for (let i = 0; i < 10; i++) expect(out!.data[i]).toBeCloseTo(expected[i]!, 3);
  });

  it('surfaces a refusal with its status and message', async () => {
    await expect(
      inferBinary(server.url, 'digits', { name: mlp.inputName, shape: [1, 783], data: sampleInput(mlp, 1) }),
    ).rejects.toThrow(/400: .*3136 bytes of data do not match shape \[1, 783\]/);
  });
});
