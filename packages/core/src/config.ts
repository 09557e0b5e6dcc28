import type { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Validates `input` against a zod schema and returns the parsed value, or throws a `ConfigError` whose
 * message names every bad field (`what: links.0.bandwidthMbps: expected number, received string`).
 * Every configuration object in geoml goes through here, so every bad config reads the same way.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields: string[] = [];
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    fields.push(path);
    return `${path}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${what}: ${lines.join('; ')}`, fields, { cause: result.error });
}
