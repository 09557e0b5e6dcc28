import type { Tensor } from '@geoml/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOnnxModel, referenceMlp, sampleInput } from '../../../test/fixtures/onnx-models.js';
import { tensorFromBinary } from '../src/http/oip-binary.js';
import { Clipper, FunctionPredictor, HttpFrontend, OnnxPredictor } from '../src/index.js';

const mlp = buildOnnxModel('mlp-s');
const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A request in the extension's layout: JSON header, then the binary parts; the header length is optional. */
function binaryRequest(header: unknown, parts: ArrayBufferView[], headerLength?: string | null) {
  const json = Buffer.from(JSON.stringify(header));
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (headerLength !== null) headers['inference-header-content-length'] = headerLength ?? String(json.length);
  return { method: 'POST', headers, body: Buffer.concat([json, ...parts.map(bytesOf)]) };
}

interface OutputMeta {
  name: string;
  shape: number[];
  datatype: string;
  data?: unknown[];
  parameters?: { binary_data_size: number };
}

/** Splits an answer at its Inference-Header-Content-Length into the JSON and each binary output's bytes. */
async function readAnswer(res: Response) {
  const body = Buffer.from(await res.arrayBuffer());
  const length = res.headers.get('inference-header-content-length');
  const jsonLength = length === null ? body.length : Number(length);
  const json = JSON.parse(body.toString('utf8', 0, jsonLength)) as {
    outputs: OutputMeta[];
    error?: string;
  };
  const binary = new Map<string, Buffer>();
  let offset = jsonLength;
  for (const o of json.outputs ?? []) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary.set(o.name, body.subarray(offset, offset + size));
    offset += size;
  }
  expect(offset).toBe(body.length);
  return { status: res.status, contentType: res.headers.get('content-type'), json, binary };
}

const floats = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

describe('Open Inference Protocol binary tensor data', () => {
  let clipper: Clipper;
  let server: HttpFrontend;
  const infer = async (model: string, init: RequestInit) =>
    readAnswer(await fetch(`${server.url}/v2/models/${model}/infer`, init));

  beforeAll(async () => {
    clipper = new Clipper();
    await clipper.deployModel('digits', 1, [await OnnxPredictor.create(mlp.bytes)], { inputType: 'tensor' });
    // Echoes each query's tensors under the same names: outputs of every datatype without a model.
    await clipper.deployModel(
      'echo',
      1,
      [new FunctionPredictor(async (xs: readonly Record<string, Tensor>[]) => xs.map((x) => ({ ...x })))],
      { inputType: 'tensor' },
    );
    await clipper.deployModel(
      'slow',
      1,
      [
        new FunctionPredictor(async (xs: readonly Record<string, Tensor>[]) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          return xs.map((x) => ({ ...x }));
        }),
      ],
      { inputType: 'tensor' },
    );
    server = await HttpFrontend.start(clipper, { maxBodyBytes: 64 * 1024 });
  });

  afterAll(async () => {
    await server.close();
    await clipper.close();
  });

  it('lists the extension in the server metadata', async () => {
    const meta = (await (await fetch(`${server.url}/v2`)).json()) as { extensions: string[] };
    expect(meta.extensions).toContain('binary_tensor_data');
  });

  it('runs binary inputs and answers binary outputs in the same layout', async () => {
    const xs = [sampleInput(mlp, 1), sampleInput(mlp, 2)];
    const batch = new Float32Array([...xs[0]!, ...xs[1]!]);
    const answer = await infer(
      'digits',
      binaryRequest(
        {
          id: 'b1',
          inputs: [
            {
              name: mlp.inputName,
              shape: [2, 784],
              datatype: 'FP32',
              parameters: { binary_data_size: 6272 },
            },
          ],
          outputs: [{ name: mlp.outputName, parameters: { binary_data: true } }],
        },
        [batch],
      ),
    );
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/octet-stream');
    expect(answer.json.outputs).toEqual([
      { name: mlp.outputName, shape: [2, 10], datatype: 'FP32', parameters: { binary_data_size: 80 } },
    ]);
    const out = floats(answer.binary.get(mlp.outputName)!);
    for (const [b, x] of xs.entries()) {
      const expected = referenceMlp(mlp.layers, x);
      for (let i = 0; i < 10; i++) expect(out[b * 10 + i]).toBeCloseTo(expected[i]!, 3);
    }
  });

  it('answers JSON outputs to binary inputs unless binary outputs are asked for', async () => {
    const x = sampleInput(mlp, 3);
    const input = {
      name: mlp.inputName,
      shape: [1, 784],
      datatype: 'FP32',
      parameters: { binary_data_size: 3136 },
    };
    const plain = await infer('digits', binaryRequest({ inputs: [input] }, [x]));
    expect(plain.contentType).toMatch(/application\/json/);
    expect(plain.json.outputs[0]!.data![0]).toBeCloseTo(referenceMlp(mlp.layers, x)[0]!, 3);
    const all = await infer(
      'digits',
      binaryRequest({ inputs: [input], parameters: { binary_data_output: true } }, [x]),
    );
    expect(floats(all.binary.get(mlp.outputName)!)[0]).toBeCloseTo(referenceMlp(mlp.layers, x)[0]!, 3);
    // An output's own flag overrides the request's.
    const overridden = await infer(
      'digits',
      binaryRequest(
        {
          inputs: [input],
          outputs: [{ name: mlp.outputName, parameters: { binary_data: false } }],
          parameters: { binary_data_output: true },
        },
        [x],
      ),
    );
    expect(overridden.binary.size).toBe(0);
    expect(overridden.json.outputs[0]!.data).toHaveLength(10);
  });

  it('mixes JSON and binary inputs of every numeric datatype, in request order', async () => {
    const f64 = new Float64Array([1.5, -2.25, 1e300]);
    const i64 = new BigInt64Array([-(2n ** 62n), 7n, 2n ** 40n]);
    const flags = new Uint8Array([1, 0, 1]);
    const i8 = new Int8Array([-128, 0, 127]);
    const answer = await infer(
      'echo',
      binaryRequest(
        {
          inputs: [
            { name: 'f64', shape: [3, 1], datatype: 'FP64', parameters: { binary_data_size: 24 } },
            { name: 'json', shape: [3], datatype: 'INT32', data: [4, 5, 6] },
            { name: 'i64', shape: [3], datatype: 'INT64', parameters: { binary_data_size: 24 } },
            { name: 'flags', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
            { name: 'i8', shape: [3], datatype: 'INT8', parameters: { binary_data_size: 3 } },
          ],
          parameters: { binary_data_output: true },
        },
        [f64, i64, flags, i8],
      ),
    );
    expect(answer.status).toBe(200);
    const sizes = Object.fromEntries(
      answer.json.outputs.map((o) => [o.name, o.parameters?.binary_data_size]),
    );
    expect(sizes).toEqual({ f64: 24, json: 12, i64: 24, flags: 3, i8: 3 });
    const get = (name: string) => {
      const b = answer.binary.get(name)!;
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
    };
    expect([...new Float64Array(get('f64'))]).toEqual([...f64]);
    expect([...new Int32Array(get('json'))]).toEqual([4, 5, 6]);
    expect([...new BigInt64Array(get('i64'))]).toEqual([...i64]);
    expect([...new Uint8Array(get('flags'))]).toEqual([1, 0, 1]);
    expect([...new Int8Array(get('i8'))]).toEqual([...i8]);
    expect(answer.json.outputs.find((o) => o.name === 'flags')?.datatype).toBe('BOOL');
  });

  it('refuses malformed binary requests with a 400 naming the problem, and keeps serving', async () => {
    const x = sampleInput(mlp, 4);
    const fp32 = (size: number, extra: Record<string, unknown> = {}) => ({
      name: mlp.inputName,
      shape: [1, 784],
      datatype: 'FP32',
      parameters: { binary_data_size: size },
      ...extra,
    });
    const cases: [string, RequestInit, RegExp][] = [
      [
        'header length beyond the body',
        binaryRequest({ inputs: [fp32(3136)] }, [x], '99999'),
        /outside the body of \d+ bytes/,
      ],
      [
        'header length not a number',
        binaryRequest({ inputs: [fp32(3136)] }, [x], 'ten'),
        /must be a byte count, got "ten"/,
      ],
      [
        'header length zero',
        binaryRequest({ inputs: [fp32(3136)] }, [x], '0'),
        /Inference-Header-Content-Length 0 is outside/,
      ],
      [
        'header length cuts the JSON',
        binaryRequest({ inputs: [fp32(3136)] }, [x], '20'),
        /malformed JSON inference header/,
      ],
      [
        'sizes short of the body',
        binaryRequest({ inputs: [fp32(3000)] }, [x]),
        /declare 3000 bytes .* but 3136 bytes follow/,
      ],
      [
        'sizes beyond the body',
        binaryRequest({ inputs: [fp32(4000)] }, [x]),
        /declare 4000 bytes .* but 3136 bytes follow/,
      ],
      [
        'size not shape x datatype',
        binaryRequest({ inputs: [{ ...fp32(3136), shape: [2, 784] }] }, [x]),
        /3136 bytes of data do not match shape \[2, 784\] of FP32 \(6272 bytes\)/,
      ],
      [
        'unknown datatype',
        binaryRequest({ inputs: [{ ...fp32(3136), datatype: 'FP16' }] }, [x]),
        /unsupported datatype "FP16"/,
      ],
      [
        'BYTES',
        binaryRequest({ inputs: [{ ...fp32(3136), datatype: 'BYTES' }] }, [x]),
        /datatype BYTES is not supported/,
      ],
      [
        'data and binary_data_size',
        binaryRequest({ inputs: [fp32(3136, { data: [1] })] }, [x]),
        /both "data" and binary_data_size/,
      ],
      [
        'negative size',
        binaryRequest({ inputs: [fp32(-4)] }, [x]),
        /binary_data_size must be a non-negative integer/,
      ],
      [
        'no header length',
        binaryRequest({ inputs: [fp32(3136)] }, [x], null),
        /no Inference-Header-Content-Length header|malformed JSON/,
      ],
      [
        'bytes but no binary input',
        binaryRequest({ inputs: [{ name: mlp.inputName, shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }, [
          x,
        ]),
        /3136 bytes follow the JSON inference header but no input has binary_data_size/,
      ],
      [
        'binary_data not a boolean',
        binaryRequest(
          { inputs: [fp32(3136)], outputs: [{ name: mlp.outputName, parameters: { binary_data: 'yes' } }] },
          [x],
        ),
        /output 'output': binary_data must be a boolean/,
      ],
      [
        'timeout not microseconds',
        binaryRequest({ inputs: [fp32(3136)], parameters: { timeout: -1 } }, [x]),
        /request: timeout must be a positive integer of microseconds/,
      ],
      [
        'parameters not an object',
        binaryRequest({ inputs: [fp32(3136)], parameters: [true] }, [x]),
        /request: "parameters" must be an object/,
      ],
      [
        'binary_data_output not a boolean',
        binaryRequest({ inputs: [fp32(3136)], parameters: { binary_data_output: 1 } }, [x]),
        /request: binary_data_output must be a boolean/,
      ],
    ];
    for (const [what, init, message] of cases) {
      const res = await fetch(`${server.url}/v2/models/digits/infer`, init);
      const body = (await res.json()) as { error?: string };
      expect({ what, status: res.status }).toEqual({ what, status: 400 });
      expect(String(body.error)).toMatch(message);
    }
    const ok = await infer(
      'digits',
      binaryRequest({ inputs: [fp32(3136)], parameters: { timeout: 5_000_000 } }, [x]),
    );
    expect(ok.status).toBe(200);
  });

  it('names the missing header when binary sizes come without one', async () => {
    // A JSON-only body (no trailing bytes) that still declares binary inputs.
    const res = await fetch(`${server.url}/v2/models/digits/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: mlp.inputName, shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 3136 } },
        ],
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /input 'input' has binary_data_size but the request has no Inference-Header-Content-Length header/,
    );
  });

  it("takes Triton's request timeout (µs) as each row's deadline", async () => {
    const request = (timeout: number) =>
      binaryRequest(
        {
          inputs: [{ name: 'x', shape: [1], datatype: 'INT32', parameters: { binary_data_size: 4 } }],
          parameters: { timeout },
        },
        [new Int32Array([1])],
      );
    const late = await fetch(`${server.url}/v2/models/slow/infer`, request(20_000));
    expect(late.status).toBe(503);
    expect(((await late.json()) as { error: string }).error).toMatch(/did not answer/);
    expect((await fetch(`${server.url}/v2/models/slow/infer`, request(5_000_000))).status).toBe(200);
  });

  it('views aligned bytes without a copy and copies unaligned bytes once', () => {
    const values = new Float32Array([1, 2, 3, 4]);
    const buf = Buffer.alloc(20);
    bytesOf(values).copy(buf, 4);
    const aligned = tensorFromBinary('x', 'FP32', [4], buf.subarray(4, 20));
    expect(aligned.data.buffer).toBe(buf.buffer);
    expect([...aligned.data]).toEqual([1, 2, 3, 4]);
    const odd = Buffer.alloc(21);
    bytesOf(values).copy(odd, 5);
    const copied = tensorFromBinary('x', 'FP32', [4], odd.subarray(5, 21));
    expect(copied.data.buffer).not.toBe(odd.buffer);
    expect([...copied.data]).toEqual([1, 2, 3, 4]);
  });
});
