import { allocate, sizeOf, type Tensor } from '@geoml/core';
import { isTensor } from './application.js';
import { ContainerError } from './errors.js';
import { ServingError } from './serving-error.js';

/**
 * Rows: named tensors sharing a leading row dimension, as a request's batch arrives (Triton's and the
 * Open Inference Protocol's `[batch, ...item]`) and as a multi-row query's output leaves. The serving core
 * moves them as views; rows are copied once into the model's batch, and outputs are sliced back as views.
 */
export type Rows = Record<string, Tensor>;

type Settable = { set(src: ArrayLike<number | bigint>, offset: number): void };
type Sliceable = { subarray(a: number, b: number): Tensor['data'] };

/**
 * The row count of a multi-row input: a non-empty record of tensors whose leading dimensions agree and
 * are at least 1. Throws `INVALID_INPUT` naming the tensor otherwise (a caller's mistake, before queueing).
 */
export function countRows(input: unknown, what: string): number {
  if (!input || typeof input !== 'object' || Array.isArray(input) || ArrayBuffer.isView(input)) {
    throw new ServingError('INVALID_INPUT', `${what}: a multi-row input must be a record of tensors`);
  }
  let rows: number | undefined;
  let first = '';
  for (const [name, t] of Object.entries(input)) {
    if (!isTensor(t)) throw new ServingError('INVALID_INPUT', `${what}: input '${name}' is not a tensor`);
    const n = (t as Tensor).shape[0];
    if (n === undefined || n < 1) {
      throw new ServingError(
        'INVALID_INPUT',
        `${what}: input '${name}' has shape [${(t as Tensor).shape.join(', ')}]; a multi-row input needs a leading row dimension of at least 1`,
      );
    }
    if (rows !== undefined && n !== rows) {
      throw new ServingError(
        'INVALID_INPUT',
        `${what}: input '${name}' has ${n} rows but input '${first}' has ${rows}; every input needs the same rows`,
      );
    }
    rows ??= n;
    first ||= name;
  }
  if (rows === undefined)
    throw new ServingError('INVALID_INPUT', `${what}: a multi-row input has no tensors`);
  return rows;
}

/** Rows `[start, start + count)` of every tensor, as views (no copy). */
export function rowsView(rows: Rows, start: number, count: number): Rows {
  const out: Rows = {};
  for (const name in rows) {
    const t = rows[name]!;
    const size = itemSize(t);
    const data = (t.data as unknown as Sliceable).subarray(start * size, (start + count) * size);
    out[name] = { dtype: t.dtype, shape: [count, ...t.shape.slice(1)], data } as Tensor;
  }
  return out;
}

/** Row `row` of every tensor without the row dimension, as views: one query's input or output. */
export function rowOf(rows: Rows, row: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const name in rows) {
    const t = rows[name]!;
    const size = itemSize(t);
    const data = (t.data as unknown as Sliceable).subarray(row * size, (row + 1) * size);
    out[name] = { dtype: t.dtype, shape: t.shape.slice(1), data } as Tensor;
  }
  return out;
}

/**
 * Joins the outputs of a multi-row query that ran in several batches, in row order (one copy). Parts
 * come from one model, so names, dtypes and item shapes agree.
 */
export function concatRows(parts: readonly Rows[]): Rows {
  const first = parts[0]!;
  const out: Rows = {};
  for (const name in first) {
    const t = first[name]!;
    let total = 0;
    for (const p of parts) total += p[name]!.shape[0]!;
    const data = allocate(t.dtype, total * itemSize(t));
    let offset = 0;
    for (const p of parts) {
      const part = p[name]!;
      (data as unknown as Settable).set(part.data as ArrayLike<number | bigint>, offset);
      offset += part.data.length;
    }
    out[name] = { dtype: t.dtype, shape: [total, ...t.shape.slice(1)], data } as Tensor;
  }
  return out;
}

/**
 * Stacks the per-row outputs of a model that answers row by row (a predictor without stacked batches)
 * into the rows of one multi-row answer (one copy): every tensor the first row's output holds, which every
 * row must hold with the same dtype and shape. Throws `BAD_OUTPUT` otherwise.
 */
export function stackOutputs(outputs: readonly unknown[]): Rows {
  const first = outputs[0] as Record<string, unknown> | undefined;
  const names =
    first && typeof first === 'object' ? Object.keys(first).filter((n) => isTensor(first[n])) : [];
  if (names.length === 0) {
    throw new ContainerError(
      'BAD_OUTPUT',
      'the model answered a row with no tensors; a multi-row query needs outputs that are records of tensors',
    );
  }
  const out: Rows = {};
  for (const name of names) {
    const t = first![name] as Tensor;
    const size = t.data.length;
    const data = allocate(t.dtype, size * outputs.length);
    outputs.forEach((o, row) => {
      const r = (o as Record<string, Tensor> | undefined)?.[name];
      if (!r || !isTensor(r) || r.dtype !== t.dtype || r.data.length !== size) {
        throw new ContainerError(
          'BAD_OUTPUT',
          `model output '${name}' of row ${row} differs from row 0's (${t.dtype} [${t.shape.join(', ')}]); rows of one query need equal outputs`,
        );
      }
      (data as unknown as Settable).set(r.data as ArrayLike<number | bigint>, row * size);
    });
    out[name] = { dtype: t.dtype, shape: [outputs.length, ...t.shape], data } as Tensor;
  }
  return out;
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

/** Elements per row. */
function itemSize(t: Tensor): number {
  const rows = t.shape[0]!;
  return rows > 0 ? t.data.length / rows : sizeOf(t.shape.slice(1));
}
