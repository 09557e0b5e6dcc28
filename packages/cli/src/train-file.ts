import {
  ldaOptionsSchema,
  matrixFactorizationOptionsSchema,
  mnistClassifierOptionsSchema,
  trainConfigSchema,
} from '@geoml/gaia';
import { z } from 'zod';

/** The workload of a train config file: a name and that workload's own options. */
export const workloadSpecSchema = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.literal('matrix-factorization'),
    options: matrixFactorizationOptionsSchema.prefault({}),
  }),
  z.strictObject({ name: z.literal('mnist'), options: mnistClassifierOptionsSchema.prefault({}) }),
  z.strictObject({ name: z.literal('lda'), options: ldaOptionsSchema.prefault({}) }),
]);
export type WorkloadSpec = z.output<typeof workloadSpecSchema>;

/**
 * `geoml train --config file.json`: gaia's train config with the workload named instead of built
 * (`{ "workload": { "name": "mnist", "options": {...} }, "mode": "asp", "topology": "ec2-11", ... }`);
 * every other field is `trainConfigSchema`'s, with its defaults.
 */
export const trainFileSchema = trainConfigSchema.extend({ workload: workloadSpecSchema });
export type TrainFile = z.output<typeof trainFileSchema>;
