import { batchingSchema } from '@geoml/clipper';
import { z } from 'zod';

/** One served model: from a local file (`file`), else watched in the registry under `name`. */
export const servedModelSchema = z.strictObject({
  /** Model and application name: `POST /<name>/predict`, `/v2/models/<name>/infer`. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, "_", "." and "-"')
    .max(128),
  /** An `.onnx` file or a tfjs-layers `model.json` (weights next to it); absent: watch the registry. */
  file: z.string().min(1).optional(),
  /** Per-model overrides of the defaults below. */
  replicas: z.int().min(1).max(64).optional(),
  batching: batchingSchema.optional(),
  cache: z.boolean().optional(),
  sloMs: z.number().gt(0).max(600_000).optional(),
});
export type ServedModel = z.output<typeof servedModelSchema>;

/** `geoml serve --config file.json`: the same settings the flags give, as one object. */
export const serveConfigSchema = z
  .strictObject({
    port: z.int().min(0).max(65535).default(8080),
    host: z.string().min(1).default('127.0.0.1'),
    /** NATS URL of the model registry; needed by models without `file`. */
    registry: z.string().min(1).optional(),
    /** Region name of this server's NATS connection. */
    region: z.string().min(1).default('serving'),
    /** Latency objective of each model's application (ms); a late query gets the default output. */
    sloMs: z.number().gt(0).max(600_000).default(100),
    replicas: z.int().min(1).max(64).default(1),
    batching: batchingSchema.prefault({ mode: 'aimd' }),
    cache: z.boolean().default(true),
    models: z.array(servedModelSchema).min(1),
  })
  .superRefine((c, ctx) => {
    c.models.forEach((m, i) => {
      if (!m.file && !c.registry)
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'file'],
          message: `model ${m.name} has no file, so it is watched in a registry: set "registry" (--registry)`,
        });
    });
    const names = c.models.map((m) => m.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['models'], message: `model ${dup} is listed twice` });
  });
export type ServeConfig = z.output<typeof serveConfigSchema>;
export type ServeConfigInput = z.input<typeof serveConfigSchema>;
