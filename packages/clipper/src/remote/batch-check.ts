import { decodeTensorMap, isSparse, type Tensor } from '@geoml/core';
import { ContainerError } from '../errors.js';
import type { InputSpec } from '../stack.js';

/**
 * Decodes a batch message of the container protocol: a core-codec tensor map of dense tensors, each with
 * leading dimension `batchSize`. `what` names the side ("request", "reply") for the message.
 * Throws `ContainerError` `BAD_INPUT` (requests) or `BAD_OUTPUT` (replies) naming the problem.
 */
export function decodeBatch(
  bytes: Uint8Array,
  batchSize: number,
  what: 'request' | 'reply',
): Record<string, Tensor> {
  const code = what === 'request' ? 'BAD_INPUT' : 'BAD_OUTPUT';
  let map: ReturnType<typeof decodeTensorMap>;
  try {
    map = decodeTensorMap(bytes);
  } catch (err) {
    throw new ContainerError(code, `${what} body is not a tensor map: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const batch: Record<string, Tensor> = {};
  for (const [name, t] of map) {
    if (isSparse(t)) {
      throw new ContainerError(code, `${what} tensor '${name}' is sparse; batches are dense`, {
        input: name,
      });
    }
    if (t.shape[0] !== batchSize) {
      throw new ContainerError(
        code,
        `${what} tensor '${name}' has shape [${t.shape.join(', ')}]; expected a leading batch dimension of ${batchSize}`,
        { input: name },
      );
    }
    batch[name] = t;
  }
  return batch;
}

/** Checks stacked request tensors against a container's input signature (`BAD_INPUT` naming the input). */
export function checkStacked(batch: Record<string, Tensor>, specs: readonly InputSpec[]): void {
  const expected = specs.map((s) => `'${s.name}'`).join(', ');
  for (const name of Object.keys(batch)) {
    if (!specs.some((s) => s.name === name)) {
      throw new ContainerError('BAD_INPUT', `unknown input '${name}' (model inputs: ${expected})`, {
        input: name,
      });
    }
  }
  for (const spec of specs) {
    const t = batch[spec.name];
    if (!t) throw new ContainerError('BAD_INPUT', `missing input '${spec.name}'`, { input: spec.name });
    if (t.dtype !== spec.dtype) {
      throw new ContainerError(
        'BAD_INPUT',
        `input '${spec.name}' has dtype ${t.dtype}, the model expects ${spec.dtype}`,
        { input: spec.name },
      );
    }
    const item = t.shape.slice(1);
    if (item.length !== spec.shape.length || spec.shape.some((d, i) => d !== null && d !== item[i])) {
      throw new ContainerError(
        'BAD_INPUT',
        `input '${spec.name}' has per-query shape [${item.join(', ')}], the model expects [${spec.shape.map((d) => d ?? '?').join(', ')}]`,
        { input: spec.name },
      );
    }
  }
}

/** Per-query input specs read off one query (when no registered signature is known). */
export function specsOf(query: Record<string, Tensor>): InputSpec[] {
  if (!query || typeof query !== 'object') {
    throw new ContainerError('BAD_INPUT', 'a query must be an object of named tensors');
  }
  return Object.entries(query).map(([name, t]) => {
    if (!t || typeof t !== 'object' || !Array.isArray(t.shape)) {
      throw new ContainerError('BAD_INPUT', `input '${name}' is not a tensor ({ dtype, shape, data })`, {
        input: name,
      });
    }
    return { name, dtype: t.dtype, shape: [...t.shape] };
  });
}
