import { type Tensor, type TensorMap, tensor } from '@geoml/core';
import { GaiaError } from './errors.js';

/** Where one named parameter tensor lives in the flat key space. */
export interface LayoutEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/** A half-open key range `[lo, hi)` of the flat parameter vector: one parameter-server shard. */
export interface KeyRange {
  readonly lo: number;
  readonly hi: number;
}

/**
 * The model's parameters laid end to end as one float32 key space, so that parameter servers shard by
 * key range (as Bösen and Gaia do) whatever the model's tensors are.
 */
export class ParameterLayout {
  readonly entries: readonly LayoutEntry[];
  readonly size: number;

  constructor(params: TensorMap) {
    const entries: LayoutEntry[] = [];
    let offset = 0;
    for (const [name, t] of params) {
      if (t.dtype !== 'float32') {
        throw new GaiaError('INVALID_UPDATE', `parameter ${name} is ${t.dtype}; the engine holds float32`);
      }
      entries.push({ name, shape: [...t.shape], offset, size: t.data.length });
      offset += t.data.length;
    }
    this.entries = entries;
    this.size = offset;
  }

  /** The parameters as one new flat vector. */
  flatten(map: TensorMap): Float32Array {
    const flat = new Float32Array(this.size);
    this.forEach(map, (e, data) => flat.set(data, e.offset));
    return flat;
  }

  /** Named tensors viewing `flat` (no copy). */
  unflatten(flat: Float32Array): TensorMap {
    const map: TensorMap = new Map();
    for (const e of this.entries) {
      map.set(e.name, tensor('float32', e.shape, flat.subarray(e.offset, e.offset + e.size)));
    }
    return map;
  }

  /** `count` contiguous, nearly equal key ranges covering the whole space. */
  ranges(count: number): KeyRange[] {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`shard count must be >= 1, got ${count}`);
    const out: KeyRange[] = [];
    for (let k = 0; k < count; k++) {
      out.push({
        lo: Math.floor((k * this.size) / count),
        hi: Math.floor(((k + 1) * this.size) / count),
      });
    }
    return out;
  }

  private forEach(map: TensorMap, visit: (e: LayoutEntry, data: Float32Array) => void): void {
    if (map.size !== this.entries.length) {
      throw new GaiaError(
        'INVALID_UPDATE',
        `expected tensors [${this.entries.map((e) => e.name)}], got [${[...map.keys()]}]`,
      );
    }
    for (const e of this.entries) {
      const t: Tensor | undefined = map.get(e.name);
      if (!t) throw new GaiaError('INVALID_UPDATE', `missing tensor ${e.name}`);
      if (t.dtype !== 'float32' || t.data.length !== e.size) {
        throw new GaiaError(
          'INVALID_UPDATE',
          `tensor ${e.name} must be float32 with ${e.size} elements, got ${t.dtype} with ${t.data.length}`,
        );
      }
      visit(e, t.data as Float32Array);
    }
  }
}
