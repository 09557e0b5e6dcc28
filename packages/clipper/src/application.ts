import { z } from 'zod';
import { type InputType, inputTypeSchema, nameSchema } from './config.js';
import { ServingError } from './serving-error.js';

/**
 * An application: the endpoint clients query (`/<app>/predict`), decoupled from the models that answer it.
 * It owns the latency objective and the default output returned when no model answers in time.
 */
export const applicationSchema = z.strictObject({
  name: nameSchema,
  inputType: inputTypeSchema,
  /** Latency objective of a query, from arrival to answer (Clipper's `latency_slo_micros`, in ms). */
  latencySloMs: z.number().gt(0).max(3_600_000),
  /** Answer when no model answers in time; any JSON value (Clipper used a string). */
  defaultOutput: z.unknown().default(null),
  /** Linked model names; the selection policy chooses among them. */
  linkedModels: z.array(nameSchema).default([]),
  /**
   * Selection policy name. Only `'default'` (the first linked model, Clipper's DefaultOutputSelectionPolicy)
   * exists here; bandit policies arrive with the selection layer.
   */
  selectionPolicy: z.string().min(1).max(64).default('default'),
});
export type Application = z.output<typeof applicationSchema>;
export type ApplicationInput = z.input<typeof applicationSchema>;

/**
 * Refuses a query whose input is not of the application's type, naming what was expected: `tensor` is a
 * `{ dtype, shape, data }` or a record of them (keyed by model input name), `bytes` a `Uint8Array`,
 * `string` a string, `json` any JSON value.
 */
export function checkInput(inputType: InputType, input: unknown, what: string): void {
  const expected = EXPECTED[inputType];
  if (!ACCEPTS[inputType](input)) {
    throw new ServingError('INVALID_INPUT', `${what}: input must be ${expected}, got ${describe(input)}`);
  }
}

const EXPECTED: Record<InputType, string> = {
  tensor: 'a tensor { dtype, shape, data } or a record of tensors keyed by input name',
  bytes: 'a Uint8Array',
  string: 'a string',
  json: 'a JSON value',
};

const ACCEPTS: Record<InputType, (input: unknown) => boolean> = {
  tensor: (input) => isTensor(input) || isTensorRecord(input),
  bytes: (input) => input instanceof Uint8Array,
  string: (input) => typeof input === 'string',
  json: (input) => input !== undefined && typeof input !== 'function' && typeof input !== 'symbol',
};

function isTensorRecord(input: unknown): boolean {
  if (!input || typeof input !== 'object' || ArrayBuffer.isView(input) || Array.isArray(input)) return false;
  const values = Object.values(input);
  return values.length > 0 && values.every(isTensor);
}

/** A dense tensor as core defines it: a typed array whose length matches the shape. */
export function isTensor(value: unknown): boolean {
  if (!value || typeof value !== 'object') return false;
  const t = value as { dtype?: unknown; shape?: unknown; data?: unknown };
  if (typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !ArrayBuffer.isView(t.data)) return false;
  let n = 1;
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d < 0) return false;
    n *= d;
  }
  return (t.data as unknown as { length: number }).length === n;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
