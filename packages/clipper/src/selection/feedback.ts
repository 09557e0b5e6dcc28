import { z } from 'zod';
import type { Application } from '../application.js';
import type { TaskOutcome } from '../query.js';
import { ServingError } from '../serving-error.js';
import { type DecisionLog, inputHashOf } from './decision-log.js';

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

/** `feedback` parsed for `app`; throws `ServingError` `INVALID_INPUT` naming the problem. */
export function checkFeedback(app: Application, feedback: unknown): SelectionFeedback {
  const parsed = selectionFeedbackSchema.safeParse(feedback);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new ServingError('INVALID_INPUT', `application ${app.name}: feedback ${where}${issue.message}`);
  }
  const f = parsed.data;
  if (f.model !== undefined && !app.linkedModels.includes(f.model)) {
    throw new ServingError('INVALID_INPUT', `application ${app.name}: model ${f.model} is not linked`);
  }
  const named = f.queryId ?? f.query_id;
  if (named === undefined && f.model === undefined && f.input === undefined) {
    throw new ServingError(
      'INVALID_INPUT',
      `application ${app.name}: feedback must name the query ("queryId"), the "model", or the "input"`,
    );
  }
  return f;
}

/** What a feedback judged, joined to the decision it is about when that is still logged. */
export interface JoinedFeedback {
  /** The user or context key whose state the rewards update. */
  readonly context: string;
  /** Reward of each judged model, in [0, 1]. */
  readonly rewards: Record<string, number>;
  /** The logged decision's propensities, when it was decided for `context`. */
  readonly probabilities?: Readonly<Record<string, number>>;
}

/**
 * Joins feedback to a logged decision (by query id, or by input for the same user or context) and turns
 * it into rewards: of the decision's outputs, of `model` + `output`, or else of the outputs `evaluate`
 * gets by asking the models the `input` again. `ownContext` is the feedback's own key.
 */
export async function joinFeedback(
  app: Application,
  feedback: SelectionFeedback,
  ownContext: string,
  log: DecisionLog,
  reward: (output: unknown, label: unknown) => number,
  evaluate: (model: string, input: unknown) => Promise<{ readonly outcome: TaskOutcome }>,
): Promise<JoinedFeedback> {
  // A reward function is the user's: clamp what it returns, and read NaN as no reward.
  const judge = (output: unknown, label: unknown): number => {
    const r = reward(output, label);
    return Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0;
  };
  let context = ownContext;
  const queryId = feedback.queryId ?? feedback.query_id;
  let entry = queryId === undefined ? undefined : log.byQuery(queryId);
  if (entry && entry.decision.app !== app.name) entry = undefined;
  // Feedback naming only the query belongs to the user or context that query was decided for.
  if (entry && feedback.uid === undefined && feedback.context === undefined) context = entry.decision.context;
  if (!entry && feedback.input !== undefined) {
    const hash = inputHashOf(feedback.input);
    if (hash) entry = log.byInput(app.name, context, hash);
  }
  const rewards: Record<string, number> = {};
  if (feedback.model !== undefined) {
    const output = feedback.output ?? entry?.outputs.get(feedback.model);
    if (feedback.reward !== undefined) rewards[feedback.model] = feedback.reward;
    else if (output !== undefined) rewards[feedback.model] = judge(output, feedback.label);
    else if (feedback.input !== undefined) {
      const a = await evaluate(feedback.model, feedback.input);
      if (a.outcome.ok) rewards[feedback.model] = judge(a.outcome.output, feedback.label);
    }
  } else if (entry) {
    for (const [model, output] of entry.outputs) {
      rewards[model] = feedback.reward ?? judge(output, feedback.label);
    }
  } else if (feedback.input !== undefined && feedback.label !== undefined) {
    const answers = await Promise.all(app.linkedModels.map((m) => evaluate(m, feedback.input)));
    answers.forEach((a, i) => {
      if (a.outcome.ok) rewards[app.linkedModels[i]!] = judge(a.outcome.output, feedback.label);
    });
  } else {
    throw new ServingError(
      'INVALID_INPUT',
      `application ${app.name}: no logged query matches this feedback; name the "model" it judges`,
    );
  }
  const probabilities =
    entry && entry.decision.context === context ? entry.decision.probabilities : undefined;
  return probabilities ? { context, rewards, probabilities } : { context, rewards };
}
