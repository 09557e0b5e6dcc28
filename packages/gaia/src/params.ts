import { type Tensor, type TensorMap, zeros } from '@geoml/core';
import { WorkloadError } from './workload.js';

/** The float32 data of parameter `name`, checked against the shape the model expects. */
export function paramData(params: TensorMap, name: string, shape: readonly number[]): Float32Array {
  const t = params.get(name);
  if (t === undefined) throw new WorkloadError('INVALID_PARAMS', `parameter ${name} is missing`);
  if (t.dtype !== 'float32' || !(t.data instanceof Float32Array)) {
    throw new WorkloadError('INVALID_PARAMS', `parameter ${name} must be float32, got ${t.dtype}`);
  }
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new WorkloadError(
      'INVALID_PARAMS',
      `parameter ${name} must have shape [${shape}], got [${t.shape}]`,
    );
  }
  return t.data;
}

/** A map of zero-filled float32 tensors with the given names and shapes (an update to fill in). */
export function zeroMap(
  shapes: ReadonlyArray<readonly [string, readonly number[]]>,
): Map<string, Tensor<'float32'>> {
  return new Map(shapes.map(([name, shape]) => [name, zeros('float32', shape)]));
}
