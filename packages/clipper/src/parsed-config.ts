import { parseConfig } from '@geoml/core';
import type { z } from 'zod';

/**
 * Settings parsed once and then handed on as they are. A hot swap parsed the same deployment and ONNX
 * settings again for every version, each parse ~0.3 ms of the serving main thread. Only objects made
 * here are trusted (per schema, by identity), so whatever a caller passes itself is still parsed.
 */
const trusted = new WeakMap<z.ZodType, WeakSet<object>>();

/** Parses `input` like `parseConfig` and remembers the result as valid for `schema`. */
export function parseOnce<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  return vouch(schema, parseConfig(schema, input, what));
}

/**
 * Remembers `value` as valid for `schema` without parsing it: only for values built from a parsed one
 * with fields known to be valid (a deployment given the version a registry numbered).
 */
export function vouch<S extends z.ZodType, T extends z.output<S>>(schema: S, value: T): T {
  let set = trusted.get(schema);
  if (!set) {
    set = new WeakSet();
    trusted.set(schema, set);
  }
  if (typeof value === 'object' && value !== null) set.add(value);
  return value;
}

/** True when `value` came from `parseOnce` or `vouch` for `schema`. */
export function parsedBy<S extends z.ZodType>(schema: S, value: unknown): value is z.output<S> {
  return typeof value === 'object' && value !== null && trusted.get(schema)?.has(value) === true;
}
