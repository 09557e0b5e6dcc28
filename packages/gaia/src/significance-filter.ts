import { indexBytes } from './index-coding.js';
import type { Delta } from './parameter-shard.js';
import { chooseLayout, type ShippedUpdate } from './update-coding.js';

/** How shipped values are encoded: plain float32, or int8 with one scale per message. */
export type UpdateEncoding = 'float32' | 'int8';

export interface SignificanceFilterOptions {
  /** Initial significance threshold τ0 (relative change); default 0.01, the paper's 1 %. */
  readonly tau0?: number;
  /**
   * `int8`: shipped values are rounded to `q * scale` (q an int8, scale = max|a| / 127) and what rounding
   * loses stays in the accumulator (error feedback), so nothing is ever lost, only delayed.
   */
  readonly encoding?: UpdateEncoding;
}

/**
 * Updates that became significant: sorted shard-local `indices`, the `values` receivers must add (for
 * int8: exactly `q * scale`), the int8 codes when the filter quantizes, and the wire layout chosen.
 */
export type SignificantUpdates = ShippedUpdate;

export interface SignificanceFilterStats {
  /** Non-zero local update entries that went into the accumulator. */
  accumulated: number;
  /** Entries shipped (each may carry several accumulated updates). */
  shipped: number;
}

/**
 * Gaia's significance filter over one shard. Local updates add into a per-parameter accumulator `a`;
 * at the region's clock `t` an entry is significant when `|a / w| > τ_t` with `τ_t = τ0 / √t` (and
 * always when `w = 0` and `a != 0`, as the authors' code does to avoid dividing by zero). Significant
 * entries are shipped and their accumulators reset; the rest keep accumulating until they matter.
 */
export class SignificanceFilter {
  readonly tau0: number;
  readonly encoding: UpdateEncoding;
  /** Float64 so residues far below float32 resolution of `w` still add up. */
  readonly accumulator: Float64Array;
  readonly stats: SignificanceFilterStats = { accumulated: 0, shipped: 0 };

  constructor(size: number, options: SignificanceFilterOptions = {}) {
    this.tau0 = options.tau0 ?? 0.01;
    if (!(this.tau0 >= 0)) throw new RangeError(`tau0 must be >= 0, got ${this.tau0}`);
    this.encoding = options.encoding ?? 'float32';
    this.accumulator = new Float64Array(size);
  }

  /** `τ_t = τ0 / √t` (t below 1 counts as 1). */
  threshold(t: number): number {
    return this.tau0 / Math.sqrt(Math.max(1, t));
  }

  /** Adds a local update into the accumulator. */
  accumulate(delta: Delta): void {
    const a = this.accumulator;
    if (delta instanceof Float32Array) {
      for (let i = 0; i < delta.length; i++) {
        const v = delta[i] as number;
        if (v !== 0) {
          a[i] = (a[i] as number) + v;
          this.stats.accumulated++;
        }
      }
    } else {
      for (let j = 0; j < delta.indices.length; j++) {
        const v = delta.values[j] as number;
        if (v === 0) continue;
        const i = delta.indices[j] as number;
        a[i] = (a[i] as number) + v;
        this.stats.accumulated++;
      }
    }
  }

  /**
   * Takes the entries significant against the current values `weights` at clock `t` (threshold
   * `τ_t + raise`, `raise >= 0` from a bandwidth controller) and resets their accumulators. When the
   * significant entries are so many that a dense message is no larger, the whole accumulator goes
   * (layout `dense`): the same bytes carry the residue too.
   */
  take(weights: Float32Array, t: number, raise = 0): SignificantUpdates {
    const tau = this.threshold(t) + Math.max(0, raise);
    const a = this.accumulator;
    const picked: number[] = [];
    for (let i = 0; i < a.length; i++) {
      const ai = a[i] as number;
      if (ai === 0) continue;
      const w = weights[i] as number;
      if (w === 0 || Math.abs(ai / w) > tau) picked.push(i);
    }
    return this.takeEntries(picked);
  }

  /** Takes every non-zero accumulated entry, whatever its significance (a flush). */
  takeAll(): SignificantUpdates {
    const picked: number[] = [];
    for (let i = 0; i < this.accumulator.length; i++) if (this.accumulator[i] !== 0) picked.push(i);
    return this.takeEntries(picked);
  }

  private takeEntries(chosen: number[]): SignificantUpdates {
    const a = this.accumulator;
    const int8 = this.encoding === 'int8';
    // int8: entries that will round to 0 stay behind, so the layout is chosen for what actually ships.
    let picked = int8 ? nonZeroCodes(a, chosen) : chosen;
    const layout =
      picked.length === 0
        ? 'sparse'
        : chooseLayout(picked.length, indexBytes(picked), a.length, int8 ? 1 : 4);
    if (layout === 'dense' && picked.length < a.length) {
      picked = [];
      for (let i = 0; i < a.length; i++) if (a[i] !== 0) picked.push(i);
    }
    const out = int8 ? this.takeInt8(picked) : this.takeFloat(picked);
    return { ...out, layout };
  }

  private takeFloat(picked: number[]): Omit<SignificantUpdates, 'layout'> {
    const a = this.accumulator;
    const indices = Uint32Array.from(picked);
    const values = new Float32Array(picked.length);
    for (let j = 0; j < picked.length; j++) {
      const i = picked[j] as number;
      values[j] = a[i] as number;
      // Keep what float32 could not carry, so the sum of everything shipped stays exact.
      a[i] = (a[i] as number) - (values[j] as number);
    }
    this.stats.shipped += picked.length;
    return { indices, values };
  }

  private takeInt8(picked: number[]): Omit<SignificantUpdates, 'layout'> {
    const a = this.accumulator;
    const scale = int8Scale(a, picked);
    const kept: number[] = [];
    const qs: number[] = [];
    if (scale > 0) {
      for (const i of picked) {
        const q = Math.max(-127, Math.min(127, Math.round((a[i] as number) / scale)));
        // An entry that rounds to 0 is too small next to this message's largest: it waits in `a`.
        if (q === 0) continue;
        kept.push(i);
        qs.push(q);
      }
    }
    const indices = Uint32Array.from(kept);
    const q = Int8Array.from(qs);
    const values = new Float32Array(kept.length);
    for (let j = 0; j < kept.length; j++) {
      const i = kept[j] as number;
      values[j] = (q[j] as number) * scale;
      a[i] = (a[i] as number) - (values[j] as number);
    }
    this.stats.shipped += kept.length;
    return { indices, values, int8: { q, scale } };
  }
}

/** The int8 scale of a message of entries `picked`: its largest magnitude maps to 127. */
function int8Scale(a: Float64Array, picked: readonly number[]): number {
  let max = 0;
  for (const i of picked) max = Math.max(max, Math.abs(a[i] as number));
  return Math.fround(max / 127);
}

/** The entries of `picked` whose int8 code in a message of them all is not 0. */
function nonZeroCodes(a: Float64Array, picked: number[]): number[] {
  const scale = int8Scale(a, picked);
  if (scale === 0) return [];
  return picked.filter((i) => Math.round((a[i] as number) / scale) !== 0);
}
