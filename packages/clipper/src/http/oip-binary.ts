import { endianness } from 'node:os';
import { BYTES_PER_ELEMENT as BYTES_PER, type DType, sizeOf, type Tensor, viewOf } from '@geoml/core';
import { HttpError } from './http-error.js';
import { checkShape, dtypeOf } from './oip-tensor.js';

/**
 * The Open Inference Protocol's binary tensor data extension, as Triton and KServe define it: the body is
 * the JSON inference request (its length in the `Inference-Header-Content-Length` header) followed by the
 * raw tensors, little-endian and row-major, one after another in the order of the inputs that carry
 * `parameters.binary_data_size`. Answers use the same layout for outputs asked for with
 * `parameters.binary_data` (or the request's `parameters.binary_data_output`).
 */
export const HEADER_LENGTH = 'inference-header-content-length';

/** What the server metadata lists, so clients (Triton's among them) know binary tensors are accepted. */
export const BINARY_EXTENSION = 'binary_tensor_data';

/** An inference request body split in two: the JSON header and the bytes after it. */
export interface InferBody {
  readonly header: unknown;
  readonly binary: Buffer;
  /** Whether the request gave `Inference-Header-Content-Length` (binary inputs need it). */
  readonly hasHeaderLength: boolean;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * Splits a request body at `Inference-Header-Content-Length` (the whole body is JSON without it), refusing
 * a length that is not an integer in [1, body length] and a header that is not JSON.
 */
export function splitInferBody(body: Buffer, headerLength: string | string[] | undefined): InferBody {
  let jsonBytes = body.length;
  if (headerLength !== undefined) {
    const text = Array.isArray(headerLength) ? headerLength.join(',') : headerLength;
    if (!/^\d+$/.test(text.trim())) {
      throw new HttpError(400, `Inference-Header-Content-Length must be a byte count, got "${text}"`);
    }
    jsonBytes = Number(text);
    if (jsonBytes < 1 || jsonBytes > body.length) {
      throw new HttpError(
        400,
        `Inference-Header-Content-Length ${jsonBytes} is outside the body of ${body.length} bytes`,
      );
    }
  }
  const json = body.toString('utf8', 0, jsonBytes);
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch (err) {
    // Checked only here: blank text never parses, and trimming every request's JSON costs a copy.
    if (json.trim().length === 0)
      throw new HttpError(400, 'body is empty; expected a JSON inference request');
    throw new HttpError(400, `malformed JSON inference header: ${(err as Error).message}`);
  }
  return { header, binary: body.subarray(jsonBytes), hasHeaderLength: headerLength !== undefined };
}

/** `parameters.binary_data_size` of one request input, or undefined when its data is JSON. */
export function binarySize(input: {
  name: string;
  parameters?: unknown;
  data?: unknown;
}): number | undefined {
  const params = input.parameters;
  if (params === undefined) return undefined;
  if (!params || typeof params !== 'object' || Array.isArray(params)) {
    throw new HttpError(400, `input '${input.name}': "parameters" must be an object`);
  }
  const size = (params as { binary_data_size?: unknown }).binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new HttpError(400, `input '${input.name}': binary_data_size must be a non-negative integer`);
  }
  if (input.data !== undefined) {
    throw new HttpError(400, `input '${input.name}' has both "data" and binary_data_size; send one`);
  }
  return size;
}

/**
 * Hands out consecutive slices of the binary part to the inputs that declared a size, in request order, and
 * refuses a body whose binary part is not exactly the sum of the declared sizes.
 */
export function sliceBinary(
  binary: Buffer,
  inputs: readonly { name: string }[],
  sizes: readonly (number | undefined)[],
  hasHeaderLength: boolean,
): (Buffer | undefined)[] {
  let total = 0;
  let first = -1;
  for (let i = 0; i < sizes.length; i++) {
    if (sizes[i] === undefined) continue;
    total += sizes[i]!;
    if (first < 0) first = i;
  }
  if (first >= 0 && !hasHeaderLength) {
    throw new HttpError(
      400,
      `input '${inputs[first]!.name}' has binary_data_size but the request has no Inference-Header-Content-Length header`,
    );
  }
  if (total !== binary.length) {
    const list = inputs
      .flatMap((t, i) => (sizes[i] === undefined ? [] : [`'${t.name}' ${sizes[i]}`]))
      .join(', ');
    throw new HttpError(
      400,
      first < 0
        ? `${binary.length} bytes follow the JSON inference header but no input has binary_data_size`
        : `binary inputs declare ${total} bytes (${list}) but ${binary.length} bytes follow the JSON inference header`,
    );
  }
  let offset = 0;
  const parts: (Buffer | undefined)[] = [];
  for (const size of sizes) {
    if (size === undefined) parts.push(undefined);
    else {
      parts.push(binary.subarray(offset, offset + size));
      offset += size;
    }
  }
  return parts;
}

/**
 * A tensor over the binary bytes of one input: a typed-array view of the request body when the bytes sit at
 * an offset aligned for the datatype, else one copy. BYTES (4-byte length before each element) is refused:
 * geoml tensors, and so its models' inputs, are numeric.
 */
export function tensorFromBinary(name: string, datatype: unknown, shape: unknown, bytes: Buffer): Tensor {
  const where = `input '${name}'`;
  if (datatype === 'BYTES') {
    throw new HttpError(400, `${where}: datatype BYTES is not supported (geoml models take numeric tensors)`);
  }
  const dtype = dtypeOf(datatype, where);
  checkShape(shape, where);
  const n = sizeOf(shape);
  const width = BYTES_PER[dtype];
  if (bytes.length !== n * width) {
    throw new HttpError(
      400,
      `${where}: ${bytes.length} bytes of data do not match shape [${shape.join(', ')}] of ${String(datatype)} (${n * width} bytes)`,
    );
  }
  return { dtype, shape, data: typedView(dtype, bytes, n) } as Tensor;
}

function typedView(dtype: DType, bytes: Buffer, n: number): Tensor['data'] {
  const width = BYTES_PER[dtype];
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % width === 0) {
    return viewOf(dtype, bytes.buffer, bytes.byteOffset, n);
  }
  // Misaligned: one copy into a shared slab rather than an ArrayBuffer of its own (allocating one costs
  // several µs, most of this path); the batch stacks it into a fresh buffer anyway.
  const raw = scratch(bytes.length, width);
  raw.set(bytes);
  if (!LITTLE_ENDIAN_HOST) swapToHost(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), width);
  return viewOf(dtype, raw.buffer, raw.byteOffset, n);
}

/**
 * Copies of misaligned request tensors are carved from 64 KiB slabs (as Node's Buffer pool does, but
 * larger and 8-byte aligned); a slab is freed once no tensor views it. Large tensors get their own.
 */
const SLAB_BYTES = 64 * 1024;
// Not zero-filled: every byte handed out is overwritten by the copy.
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES).buffer;
let slabUsed = 0;

function scratch(length: number, width: number): Uint8Array {
  if (length > SLAB_BYTES / 4) {
    return new Uint8Array(Buffer.allocUnsafeSlow(Math.ceil(length / width) * width).buffer, 0, length);
  }
  slabUsed = Math.ceil(slabUsed / 8) * 8;
  if (slabUsed + length > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES).buffer;
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, length);
  slabUsed += length;
  return out;
}

function swapToHost(raw: Buffer, width: number): void {
  if (width === 2) raw.swap16();
  else if (width === 4) raw.swap32();
  else if (width === 8) raw.swap64();
}

/** A tensor's bytes as the extension sends them (little-endian): a view of its data on this host. */
export function tensorBytes(t: Tensor): Buffer {
  const view = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (LITTLE_ENDIAN_HOST) return view;
  const copy = Buffer.from(view);
  swapToHost(copy, BYTES_PER[t.dtype]);
  return copy;
}

/**
 * Whether output `name` goes back as binary: its own `parameters.binary_data` when given, else the
 * request's `parameters.binary_data_output`.
 */
export function wantsBinary(requestParams: unknown, outputParams: unknown, name: string): boolean {
  const own = flag(outputParams, 'binary_data', `output '${name}'`);
  return own ?? flag(requestParams, 'binary_data_output', 'request') ?? false;
}

function flag(params: unknown, key: string, where: string): boolean | undefined {
  if (params === undefined) return undefined;
  if (!params || typeof params !== 'object' || Array.isArray(params)) {
    throw new HttpError(400, `${where}: "parameters" must be an object`);
  }
  const v = (params as Record<string, unknown>)[key];
  if (v !== undefined && typeof v !== 'boolean')
    throw new HttpError(400, `${where}: ${key} must be a boolean`);
  return v as boolean | undefined;
}
