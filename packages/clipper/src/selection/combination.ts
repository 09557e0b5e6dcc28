import { type Tensor, tensor } from '@geoml/core';
import { isTensor } from '../application.js';
import type { Combined } from './policy.js';

/** How an ensemble merges outputs: `average` numbers/tensors, `vote` on labels, `auto` by output kind. */
export type CombineMode = 'auto' | 'average' | 'vote';

/** Relative distance under which two scalar outputs count as agreeing. */
const SCALAR_TOLERANCE = 0.1;

/**
 * Combines the outputs that arrived from an ensemble's `chosen` models with `weights` (Clipper's Exp4
 * combination): numbers, numeric arrays and tensors (or records of tensors) are averaged with the arrived
 * models' weights renormalised; anything else is a weighted vote. Confidence is the weight of the arrived
 * models that agree with the result (same label, same argmax, or a scalar within 10%) over the weight of all
 * chosen models, so every straggler lowers it.
 */
export function weightedCombine(
  outputs: ReadonlyMap<string, unknown>,
  weights: Readonly<Record<string, number>>,
  chosen: readonly string[],
  mode: CombineMode = 'auto',
): Combined {
  const arrived = chosen.filter((m) => outputs.has(m));
  const missing = chosen.filter((m) => !outputs.has(m));
  if (arrived.length === 0) return { output: undefined, confidence: 0, missing };
  const weightOf = (m: string) => Math.max(0, weights[m] ?? 0);
  let total = chosen.reduce((a, m) => a + weightOf(m), 0);
  // All-zero weights (or none given) mean equal weights.
  const w = total > 0 ? weightOf : () => 1;
  if (!(total > 0)) total = chosen.length;
  const values = arrived.map((m) => outputs.get(m));
  const numeric = mode !== 'vote' && kindOf(values);
  if (mode === 'average' && !numeric) {
    throw new TypeError('average combination needs numbers, numeric arrays or tensors of one shape');
  }
  let output: unknown;
  let agrees: (value: unknown) => boolean;
  if (numeric) {
    const arrivedWeight = arrived.reduce((a, m) => a + w(m), 0);
    const share = arrived.map((m) => (arrivedWeight > 0 ? w(m) / arrivedWeight : 1 / arrived.length));
    output = average(values, share, numeric);
    agrees = agreement(output, numeric);
  } else {
    const tally = new Map<string, { weight: number; best: number; value: unknown }>();
    arrived.forEach((m, i) => {
      const key = labelKey(values[i]);
      const entry = tally.get(key) ?? { weight: 0, best: -1, value: values[i] };
      entry.weight += w(m);
      if (w(m) > entry.best) {
        entry.best = w(m);
        entry.value = values[i];
      }
      tally.set(key, entry);
    });
    const winner = [...tally.entries()].reduce((a, b) => (b[1].weight > a[1].weight ? b : a));
    output = winner[1].value;
    agrees = (v) => labelKey(v) === winner[0];
  }
  const agreeing = arrived.reduce((a, m, i) => a + (agrees(values[i]) ? w(m) : 0), 0);
  return { output, confidence: Math.min(1, agreeing / total), missing };
}

type NumericKind = 'scalar' | 'vector' | 'tensor' | 'record';

/** The common numeric kind of all values (same length/shape/keys), or false. */
function kindOf(values: readonly unknown[]): NumericKind | false {
  const first = values[0];
  if (values.every((v) => typeof v === 'number' && Number.isFinite(v))) return 'scalar';
  if (Array.isArray(first)) {
    const n = first.length;
    const ok = values.every(
      (v) =>
        Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x)),
    );
    return ok && n > 0 ? 'vector' : false;
  }
  if (isTensor(first)) {
    const shape = (first as Tensor).shape.join(',');
    return values.every((v) => isTensor(v) && (v as Tensor).shape.join(',') === shape) ? 'tensor' : false;
  }
  if (first && typeof first === 'object') {
    const keys = Object.keys(first).sort().join(',');
    if (keys === '') return false;
    const ok = values.every(
      (v) =>
        v !== null &&
        typeof v === 'object' &&
        Object.keys(v).sort().join(',') === keys &&
        Object.values(v).every(isTensor),
    );
    return ok && kindOf(Object.values(first as object)) !== false ? 'record' : false;
  }
  return false;
}

function numbersOf(value: unknown, kind: NumericKind): ArrayLike<number> {
  if (kind === 'scalar') return [value as number];
  if (kind === 'vector') return value as number[];
  if (kind === 'tensor') return (value as Tensor).data as ArrayLike<number>;
  // A record: the first output (by name) decides agreement.
  const first = Object.keys(value as object).sort()[0]!;
  return ((value as Record<string, Tensor>)[first]!.data as ArrayLike<number>) ?? [];
}

function average(values: readonly unknown[], share: readonly number[], kind: NumericKind): unknown {
  if (kind === 'scalar') return values.reduce<number>((a, v, i) => a + (v as number) * share[i]!, 0);
  if (kind === 'vector') {
    const out = new Array<number>((values[0] as number[]).length).fill(0);
    values.forEach((v, i) => {
      (v as number[]).forEach((x, j) => {
        out[j]! += x * share[i]!;
      });
    });
    return out;
  }
  if (kind === 'tensor') return averageTensors(values as Tensor[], share);
  const names = Object.keys(values[0] as object);
  return Object.fromEntries(
    names.map((name) => [
      name,
      averageTensors(
        values.map((v) => (v as Record<string, Tensor>)[name]!),
        share,
      ),
    ]),
  );
}

function averageTensors(values: readonly Tensor[], share: readonly number[]): Tensor {
  const shape = values[0]!.shape;
  const out = new Float32Array(values[0]!.data.length);
  values.forEach((t, i) => {
    const data = t.data as ArrayLike<number>;
    for (let j = 0; j < out.length; j++) out[j]! += Number(data[j]) * share[i]!;
  });
  return tensor('float32', shape, out);
}

/** Whether a value agrees with the averaged output: same argmax for scores, within 10% for a scalar. */
function agreement(output: unknown, kind: NumericKind): (value: unknown) => boolean {
  const combined = numbersOf(output, kind);
  if (combined.length === 1) {
    const c = Number(combined[0]);
    return (v) => Math.abs(Number(numbersOf(v, kind)[0]) - c) <= SCALAR_TOLERANCE * Math.max(1, Math.abs(c));
  }
  const best = argmax(combined);
  return (v) => argmax(numbersOf(v, kind)) === best;
}

/** Index of the largest value (the first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (Number(values[i]) > Number(values[best])) best = i;
  return best;
}

/** A stable key for voting: labels by JSON text, score vectors and tensors by their argmax. */
function labelKey(value: unknown): string {
  if (isTensor(value)) return `#${argmax((value as Tensor).data as ArrayLike<number>)}`;
  if (value instanceof Uint8Array) return `b:${Buffer.from(value).toString('base64')}`;
  try {
    return `j:${JSON.stringify(value) ?? String(value)}`;
  } catch {
    return `s:${String(value)}`;
  }
}

/**
 * The default reward of an output against a feedback label, in [0, 1]: 1 when they match, else 0. A score
 * vector or tensor matches an integer label when its argmax is that label, and a vector label of the same
 * length when their argmaxes agree; anything else matches by equal JSON.
 */
export function labelReward(output: unknown, label: unknown): number {
  const scores = isTensor(output)
    ? ((output as Tensor).data as ArrayLike<number>)
    : Array.isArray(output) && output.length > 1 && output.every((x) => typeof x === 'number')
      ? (output as number[])
      : undefined;
  if (scores && scores.length > 1) {
    if (typeof label === 'number' && Number.isInteger(label)) return argmax(scores) === label ? 1 : 0;
    const target = isTensor(label) ? ((label as Tensor).data as ArrayLike<number>) : label;
    if (Array.isArray(target) || ArrayBuffer.isView(target)) {
      const t = target as ArrayLike<number>;
      return t.length === scores.length && argmax(t) === argmax(scores) ? 1 : 0;
    }
    return 0;
  }
  return labelKey(output) === labelKey(label) ? 1 : 0;
}
