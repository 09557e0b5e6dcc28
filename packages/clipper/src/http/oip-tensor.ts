import { allocate, type DType, sizeOf, type Tensor } from '@geoml/core';
import { HttpError } from './http-error.js';

/** Open Inference Protocol datatypes geoml tensors can hold. */
const TO_DTYPE = {
  BOOL: 'bool',
  UINT8: 'uint8',
  INT8: 'int8',
  INT32: 'int32',
  INT64: 'int64',
  FP32: 'float32',
  FP64: 'float64',
} as const satisfies Record<string, DType>;

export type OipDatatype = keyof typeof TO_DTYPE;

const TO_DATATYPE = Object.fromEntries(Object.entries(TO_DTYPE).map(([k, v]) => [v, k])) as Record<
  DType,
  OipDatatype
>;

export function oipDatatype(dtype: DType): OipDatatype {
  return TO_DATATYPE[dtype];
}

/** The geoml dtype of an OIP datatype; a 400 naming the tensor (`where`) for one geoml cannot hold. */
export function dtypeOf(datatype: unknown, where: string): DType {
  if (typeof datatype === 'string' && datatype in TO_DTYPE) return TO_DTYPE[datatype as OipDatatype];
  throw new HttpError(
    400,
    `${where}: unsupported datatype ${JSON.stringify(datatype)} (one of ${Object.keys(TO_DTYPE).join(', ')})`,
  );
}

export function checkShape(shape: unknown, where: string): asserts shape is number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new HttpError(400, `${where}: shape must be an array of non-negative integers`);
  }
}

/** One tensor as JSON: OIP's `{ name, shape, datatype, data }` with row-major flat data. */
export interface JsonTensor {
  readonly name: string;
  readonly shape: number[];
  readonly datatype: OipDatatype;
  readonly data: (number | boolean)[];
}

function flattenInto(data: unknown, out: unknown[], where: string, depth: number): void {
  if (depth > 32) throw new HttpError(400, `${where}: data nests too deeply`);
  if (Array.isArray(data)) for (const d of data) flattenInto(d, out, where, depth + 1);
  else out.push(data);
}

/** Row-major values of flat or nested JSON data; a flat array (the common case) is returned as it is. */
export function flatValues(data: unknown, where: string): readonly unknown[] {
  if (Array.isArray(data) && !data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  flattenInto(data, out, where, 0);
  return out;
}

/**
 * Builds a tensor from OIP JSON (`datatype`, `shape`, `data` flat or nested), refusing with a 400 that
 * names the tensor when the datatype is unsupported, the shape is bad, or the data do not fit.
 */
export function tensorFromJson(name: string, datatype: unknown, shape: unknown, data: unknown): Tensor {
  const where = `input '${name}'`;
  const dtype = dtypeOf(datatype, where);
  checkShape(shape, where);
  const values = flatValues(data, where);
  const n = sizeOf(shape);
  if (values.length !== n) {
    throw new HttpError(400, `${where}: shape [${shape.join(', ')}] needs ${n} values, got ${values.length}`);
  }
  const out = allocate(dtype, n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (dtype === 'bool') {
      if (typeof v !== 'boolean' && v !== 0 && v !== 1)
        throw new HttpError(400, `${where}: value ${i} is not a boolean`);
      (out as Uint8Array)[i] = v ? 1 : 0;
    } else if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new HttpError(400, `${where}: value ${i} is not a finite number`);
    } else if (dtype === 'int64') {
      if (!Number.isSafeInteger(v)) throw new HttpError(400, `${where}: value ${i} is not an integer`);
      (out as BigInt64Array)[i] = BigInt(v);
    } else {
      (out as Float32Array)[i] = v;
    }
  }
  return { dtype, shape, data: out } as Tensor;
}

/** A tensor as OIP JSON (int64 as numbers, bool as booleans). */
export function tensorToJson(name: string, t: Tensor): JsonTensor {
  const data: (number | boolean)[] = new Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i]!;
    data[i] = t.dtype === 'bool' ? v !== 0 : Number(v);
  }
  return { name, shape: [...t.shape], datatype: oipDatatype(t.dtype), data };
}
