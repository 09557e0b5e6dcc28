import { z } from 'zod';

/** Feedback as `Clipper.update` accepts it for an application with a selection policy. */
export const selectionFeedbackSchema = z
  .strictObject({
    uid: z.union([z.string().max(256), z.number()]).optional(),
    context: z.string().max(256).optional(),
    /** The query judged (`PredictionResult.queryId`, REST `query_id`) on this frontend. */
    queryId: z.int().min(0).optional(),
    query_id: z.int().min(0).optional(),
    /** The model judged, when the query is not named. */
    model: z.string().min(1).max(128).optional(),
    input: z.unknown().optional(),
    /** The output judged (with `model`). */
    output: z.unknown().optional(),
    /** The true answer: each judged model's reward is `reward(output, label)`. */
    label: z.unknown().optional(),
    /** Or the reward itself, in [0, 1], of the judged query's models. */
    reward: z.number().min(0).max(1).optional(),
  })
  .refine((f) => (f.label === undefined) !== (f.reward === undefined), {
    message: 'give exactly one of "label" and "reward"',
  });
export type SelectionFeedback = z.output<typeof selectionFeedbackSchema>;
