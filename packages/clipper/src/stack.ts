import { allocate, allocateUnfilled, type DType, isArrayOf, sizeOf, type Tensor, tensor } from '@geoml/core';
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

/**
 * Throws `BAD_INPUT` naming the input when `value` is not a tensor of `spec`'s dtype and per-item shape;
 * with `rows`, the tensor holds that many items along a leading row dimension.
 */
function checkItem(spec: InputSpec, value: unknown, query: number, rows?: number): Tensor {
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
  const lead = rows === undefined ? 0 : 1;
  const fits =
    shape.length === spec.shape.length + lead &&
    (lead === 0 || shape[0] === rows) &&
    spec.shape.every((d, i) => d === null || d === shape[i + lead]);
  if (!fits) {
    throw badInput(
      name,
      rows === undefined
        ? `input '${name}' of query ${query} has shape [${shape.join(', ')}], the model expects ${describe(spec.shape)} per query (no batch dimension)`
        : `input '${name}' of query ${query} (${rows} rows) has shape [${shape.join(', ')}], the model expects [${rows}, ${describe(spec.shape).slice(1)}`,
    );
  }
  // Checked without building a tensor (this runs per query); core's tensor() words the error.
  const data = t.data as Tensor['data'];
  let n = 1;
  for (const d of shape) n *= d;
  if (data.length !== n || !isArrayOf(spec.dtype, data)) {
    try {
      tensor(spec.dtype, shape, data);
    } catch (err) {
      throw badInput(name, `input '${name}' of query ${query}: ${(err as Error).message}`);
    }
  }
  return t as Tensor;
}

/** One query's share of a model batch: its input, and its row count when the input carries rows. */
export interface QueryRows {
  readonly input: unknown;
  /** Set when `input` holds this many rows along a leading dimension (a multi-row query). */
  readonly rows?: number | undefined;
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
  return stack(inputs.length, inputs.length, (q) => inputs[q], NO_ROWS, specs);
}

/**
 * Like `stackBatch` for queries of one input or of several rows (`QueryRows`): each query's rows are
 * copied once, in order, into the batch of `rows` (their total) rows.
 */
export function stackQueries(
  queries: readonly QueryRows[],
  rows: number,
  specs: readonly InputSpec[],
): Record<string, Tensor> {
  return stack(
    queries.length,
    rows,
    (q) => queries[q]!.input,
    (q) => queries[q]!.rows,
    specs,
  );
}

/**
 * Throws `BAD_INPUT` naming the input unless `stacked` holds exactly the model's inputs, each
 * `[rows, ...item]` of the right dtype and per-item shape (a batch already stacked).
 */
export function checkStacked(
  stacked: Record<string, Tensor>,
  specs: readonly InputSpec[],
  rows: number,
): void {
  if (!stacked || typeof stacked !== 'object') {
    throw new ContainerError('BAD_INPUT', 'a stacked batch must be an object of named tensors');
  }
  for (const name in stacked) {
    if (!specs.some((s) => s.name === name)) {
      throw badInput(
        name,
        `unknown input '${name}' (model inputs: ${specs.map((s) => `'${s.name}'`).join(', ')})`,
      );
    }
  }
  for (const spec of specs) checkItem(spec, stacked[spec.name], 0, rows);
}

const NO_ROWS = () => undefined;

type Settable = { set(src: ArrayLike<number | bigint>, offset: number): void };

function stack(
  count: number,
  total: number,
  inputAt: (q: number) => unknown,
  rowsAt: (q: number) => number | undefined,
  specs: readonly InputSpec[],
): Record<string, Tensor> {
  // Plain loops, and the error text built only on an error: this runs once per batch on the serving path.
  const expected = () => specs.map((s) => `'${s.name}'`).join(', ');
  for (let q = 0; q < count; q++) {
    const query = inputAt(q);
    if (!query || typeof query !== 'object') {
      throw new ContainerError(
        'BAD_INPUT',
        `query ${q} is not an object of named tensors (model inputs: ${expected()})`,
      );
    }
    for (const name in query) {
      if (!specs.some((s) => s.name === name))
        throw badInput(name, `unknown input '${name}' in query ${q} (model inputs: ${expected()})`);
    }
  }
  const stacked: Record<string, Tensor> = {};
  for (const spec of specs) {
    const rows0 = rowsAt(0);
    const first = checkItem(spec, (inputAt(0) as Record<string, unknown>)[spec.name], 0, rows0);
    const itemShape = rows0 === undefined ? first.shape : first.shape.slice(1);
    const itemSize = rows0 === undefined ? first.data.length : first.data.length / rows0;
    // Not zero-filled: every element is copied in below.
    const data = allocateUnfilled(spec.dtype, itemSize * total) as unknown as Settable;
    let row = 0;
    for (let q = 0; q < count; q++) {
      const rows = rowsAt(q);
      const t =
        q === 0 ? first : checkItem(spec, (inputAt(q) as Record<string, unknown>)[spec.name], q, rows);
      const lead = rows === undefined ? 0 : 1;
      if (q > 0 && !itemShape.every((d, i) => d === t.shape[i + lead])) {
        throw badInput(
          spec.name,
          `input '${spec.name}' of query ${q} has shape [${t.shape.slice(lead).join(', ')}] but query 0 has [${itemShape.join(', ')}]; one batch needs equal shapes`,
        );
      }
      data.set(t.data as ArrayLike<number | bigint>, row * itemSize);
      row += rows ?? 1;
    }
    stacked[spec.name] = {
      dtype: spec.dtype,
      shape: [total, ...itemShape],
      data: data as unknown as Tensor['data'],
    };
  }
  return stacked;
}

/**
 * Splits batched outputs (leading dimension `n`) into one record per query. Each per-query tensor is a view
 * into the batch's buffer (no copy).
 */
export function unstackBatch(outputs: Record<string, Tensor>, n: number): Record<string, Tensor>[] {
  return unstack(outputs, n, n, NO_ROWS);
}

/**
 * Splits batched outputs (leading dimension `total`) back per query of `stackQueries`: a query of one
 * input gets its row without the batch dimension, a multi-row query its rows `[rows, ...item]`; every
 * tensor a view into the batch's buffer (no copy).
 */
export function unstackQueries(
  outputs: Record<string, Tensor>,
  queries: readonly QueryRows[],
  total: number,
): Record<string, Tensor>[] {
  return unstack(outputs, queries.length, total, (q) => queries[q]!.rows);
}

function unstack(
  outputs: Record<string, Tensor>,
  count: number,
  total: number,
  rowsAt: (q: number) => number | undefined,
): Record<string, Tensor>[] {
  const result: Record<string, Tensor>[] = [];
  for (let q = 0; q < count; q++) result.push({});
  for (const name in outputs) {
    const t = outputs[name]!;
    if (t.shape[0] !== total) {
      throw new ContainerError(
        'BAD_OUTPUT',
        `model output '${name}' has shape [${t.shape.join(', ')}]; expected a leading batch dimension of ${total}`,
      );
    }
    const itemShape = t.shape.slice(1);
    const itemSize = sizeOf(itemShape);
    let row = 0;
    for (let q = 0; q < count; q++) {
      const rows = rowsAt(q);
      const n = rows ?? 1;
      const data = t.data.subarray(row * itemSize, (row + n) * itemSize) as Tensor['data'];
      result[q]![name] = {
        dtype: t.dtype,
        shape: rows === undefined ? itemShape : [rows, ...itemShape],
        data,
      };
      row += n;
    }
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
