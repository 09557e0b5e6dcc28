import { allocate, type DType, sizeOf, type Tensor, tensor } from '@geoml/core';
import { ContainerError } from './errors.js';

/**
 * One named model input as a container sees it: dtype and the shape of ONE query's tensor (the batch
 * dimension removed). `null` marks a free dimension (symbolic in the model); within one batch every query
 * must agree on it, since the batch is stacked into a single tensor.
 */
export interface InputSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly (number | null)[];
}

function describe(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]`;
}

function badInput(name: string, message: string): ContainerError {
  return new ContainerError('BAD_INPUT', message, { input: name });
}

/** Throws `BAD_INPUT` naming the input when `value` is not a tensor of `spec`'s dtype and per-item shape. */
function checkItem(spec: InputSpec, value: unknown, query: number): Tensor {
  const name = spec.name;
  const t = value as Partial<Tensor> | undefined;
  if (!t || typeof t !== 'object' || !Array.isArray(t.shape) || !ArrayBuffer.isView(t.data)) {
    throw badInput(name, `input '${name}' of query ${query} is not a tensor ({ dtype, shape, data })`);
  }
  if (t.dtype !== spec.dtype) {
    throw badInput(
      name,
      `input '${name}' of query ${query} has dtype ${t.dtype}, the model expects ${spec.dtype}`,
    );
  }
  const shape = t.shape;
  const fits = shape.length === spec.shape.length && spec.shape.every((d, i) => d === null || d === shape[i]);
  if (!fits) {
    throw badInput(
      name,
      `input '${name}' of query ${query} has shape [${shape.join(', ')}], the model expects ${describe(spec.shape)} per query (no batch dimension)`,
    );
  }
  try {
    // core's tensor() checks the data's typed-array class and length against dtype and shape.
    tensor(spec.dtype, shape, t.data as Tensor['data']);
  } catch (err) {
    throw badInput(name, `input '${name}' of query ${query}: ${(err as Error).message}`);
  }
  return t as Tensor;
}

/**
 * Validates a batch of per-query inputs against the model's inputs and stacks each named input into one
 * tensor of shape `[batch, ...item]` (one copy per query into a fresh buffer, which the caller may then
 * transfer). Throws `ContainerError('BAD_INPUT')` naming the input on a missing or unknown name, a wrong
 * dtype or shape, or queries that disagree on a free dimension.
 */
export function stackBatch(
  inputs: readonly Record<string, Tensor>[],
  specs: readonly InputSpec[],
): Record<string, Tensor> {
  // Plain loops, and the error text built only on an error: this runs once per batch on the serving path.
  const expected = () => specs.map((s) => `'${s.name}'`).join(', ');
  for (let q = 0; q < inputs.length; q++) {
    const query = inputs[q];
    if (!query || typeof query !== 'object') {
      throw new ContainerError(
        'BAD_INPUT',
        `query ${q} is not an object of named tensors (model inputs: ${expected()})`,
      );
    }
    for (const name of Object.keys(query)) {
      if (!specs.some((s) => s.name === name))
        throw badInput(name, `unknown input '${name}' in query ${q} (model inputs: ${expected()})`);
    }
  }
  const stacked: Record<string, Tensor> = {};
  for (const spec of specs) {
    const first = checkItem(spec, inputs[0]?.[spec.name], 0);
    const itemShape = first.shape;
    const itemSize = first.data.length;
    const data = allocate(spec.dtype, itemSize * inputs.length);
    inputs.forEach((query, q) => {
      const t = q === 0 ? first : checkItem(spec, query[spec.name], q);
      if (q > 0 && !t.shape.every((d, i) => d === itemShape[i])) {
        throw badInput(
          spec.name,
          `input '${spec.name}' of query ${q} has shape [${t.shape.join(', ')}] but query 0 has [${itemShape.join(', ')}]; one batch needs equal shapes`,
        );
      }
      (data as unknown as { set(src: ArrayLike<number | bigint>, offset: number): void }).set(
        t.data as ArrayLike<number | bigint>,
        q * itemSize,
      );
    });
    stacked[spec.name] = { dtype: spec.dtype, shape: [inputs.length, ...itemShape], data };
  }
  return stacked;
}

/**
 * Splits batched outputs (leading dimension `n`) into one record per query. Each per-query tensor is a view
 * into the batch's buffer (no copy).
 */
export function unstackBatch(outputs: Record<string, Tensor>, n: number): Record<string, Tensor>[] {
  const result: Record<string, Tensor>[] = Array.from({ length: n }, () => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.shape[0] !== n) {
      throw new ContainerError(
        'BAD_OUTPUT',
        `model output '${name}' has shape [${t.shape.join(', ')}]; expected a leading batch dimension of ${n}`,
      );
    }
    const itemShape = t.shape.slice(1);
    const itemSize = sizeOf(itemShape);
    for (let q = 0; q < n; q++) {
      const data = t.data.subarray(q * itemSize, (q + 1) * itemSize) as Tensor['data'];
      (result[q] as Record<string, Tensor>)[name] = { dtype: t.dtype, shape: itemShape, data };
    }
  }
  return result;
}

/**
 * Rows `[start, start + count)` of a stacked batch as a new batch of exactly `size` rows, padded by
 * repeating the last row (for models whose batch dimension is fixed).
 */
export function sliceBatch(
  stacked: Record<string, Tensor>,
  start: number,
  count: number,
  size: number,
): Record<string, Tensor> {
  const result: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(stacked)) {
    const itemShape = t.shape.slice(1);
    const itemSize = sizeOf(itemShape);
    const data = allocate(t.dtype, size * itemSize) as unknown as {
      set(src: ArrayLike<number | bigint>, offset: number): void;
    };
    const src = t.data as unknown as { subarray(a: number, b: number): ArrayLike<number | bigint> };
    data.set(src.subarray(start * itemSize, (start + count) * itemSize), 0);
    const last = src.subarray((start + count - 1) * itemSize, (start + count) * itemSize);
    for (let row = count; row < size; row++) data.set(last, row * itemSize);
    result[name] = { dtype: t.dtype, shape: [size, ...itemShape], data: data as unknown as Tensor['data'] };
  }
  return result;
}

/** A zero-filled query for warm-up; needs every per-item dimension fixed, else a sample must be given. */
export function zeroQuery(specs: readonly InputSpec[]): Record<string, Tensor> {
  const query: Record<string, Tensor> = {};
  for (const spec of specs) {
    if (spec.shape.some((d) => d === null)) {
      throw badInput(
        spec.name,
        `input '${spec.name}' has a free dimension ${describe(spec.shape)}; pass a sample query to warm up`,
      );
    }
    const shape = spec.shape as number[];
    query[spec.name] = { dtype: spec.dtype, shape, data: allocate(spec.dtype, sizeOf(shape)) };
  }
  return query;
}
