// Query a model over the Open Inference Protocol with binary tensors (Triton's binary tensor data
// extension): the JSON request, then the raw float32 bytes; the answer comes back the same way. Works
// against geoml and Triton alike. With `geoml serve ... --port 8080` running, from the repository root:
//   npx tsx --conditions=@geoml/source docs/examples/oip-binary.ts
import { readFileSync } from 'node:fs';

export interface Float32Tensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Runs `model` on one float32 input and returns its outputs, all sent and received as binary. */
export async function inferBinary(
  url: string,
  model: string,
  input: Float32Tensor,
): Promise<Float32Tensor[]> {
  const bytes = Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: input.name,
          shape: input.shape,
          datatype: 'FP32',
          parameters: { binary_data_size: bytes.length },
        },
      ],
      parameters: { binary_data_output: true },
    }),
  );
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
    body: Buffer.concat([header, bytes]),
  });
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) throw new Error(`${res.status}: ${body.toString()}`);
  // The answer: JSON of Inference-Header-Content-Length bytes, then each output's binary_data_size bytes.
  const jsonLength = Number(res.headers.get('inference-header-content-length') ?? body.length);
  const answer = JSON.parse(body.toString('utf8', 0, jsonLength)) as {
    outputs: { name: string; shape: number[]; parameters: { binary_data_size: number } }[];
  };
  let offset = jsonLength;
  return answer.outputs.map(({ name, shape, parameters }) => {
    const part = body.subarray(offset, offset + parameters.binary_data_size);
    offset += parameters.binary_data_size;
    return {
      name,
      shape,
      data: new Float32Array(part.buffer.slice(part.byteOffset, part.byteOffset + part.length)),
    };
  });
}

if (process.argv[1]?.endsWith('oip-binary.ts')) {
  const url = process.argv[2] ?? 'http://127.0.0.1:8080';
  const model = process.argv[3] ?? 'mnist';
  // The model's metadata names its input; the pixels are those of docs/examples/digit.json.
  const meta = (await (await fetch(`${url}/v2/models/${model}`)).json()) as { inputs: { name: string }[] };
  const pixels = JSON.parse(readFileSync('docs/examples/digit.json', 'utf8')).input as number[];
  const [out] = await inferBinary(url, model, {
    name: meta.inputs[0]!.name,
    shape: [1, pixels.length],
    data: Float32Array.from(pixels),
  });
  const digit = out!.data.indexOf(Math.max(...out!.data));
  console.log(`${out!.name} [${out!.shape.join(', ')}]: predicted digit ${digit}`);
}
