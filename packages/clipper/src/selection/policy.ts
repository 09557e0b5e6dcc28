import type { Rng } from '@geoml/core';

/** A JSON value: what a policy's state must be, so the kv can store it and another frontend can read it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What a policy sees when it chooses: the query and a seeded generator (the state itself stays pure). */
export interface SelectionContext {
  /** The user or context key the state belongs to (`'_'` when the query named none). */
  readonly key: string;
  readonly input?: unknown;
  readonly rng: Rng;
}

/** A policy's choice for one query. */
export interface Selection {
  /** The models to ask: one for single-model policies, several for ensembles. */
  readonly models: readonly string[];
  /**
   * For every linked model, the probability with which it was chosen for this query (1 for each model an
   * ensemble asks): the propensities offline (off-policy) evaluation needs.
   */
  readonly probabilities: Readonly<Record<string, number>>;
  /** Ensemble weights used by `combine` (normalised), when the policy weighs its models. */
  readonly weights?: Readonly<Record<string, number>>;
}

/** What a policy made of the outputs that arrived by the deadline. */
export interface Combined {
  readonly output: unknown;
  /**
   * How far the chosen models agreed, in [0, 1]: the weight of the arrived models that agree with `output`
   * over the weight of every chosen model, so a missing model lowers it.
   */
  readonly confidence: number;
  /** Chosen models whose output did not arrive in time. */
  readonly missing: readonly string[];
}

/** Feedback as a policy sees it: rewards in [0, 1] of the models whose outputs the feedback judged. */
export interface PolicyFeedback {
  readonly rewards: Readonly<Record<string, number>>;
  /** The probabilities logged when the judged query was decided (importance weights for Exp3). */
  readonly probabilities?: Readonly<Record<string, number>>;
}

/**
 * Clipper's selection-policy interface (`select`, `combine`, `observe`): pure functions over a JSON state
 * kept per application and per user or context, so several frontends can share it through a kv store.
 */
export interface SelectionPolicy<State extends JsonValue = JsonValue> {
  /** The name an application's `selectionPolicy` uses. */
  readonly name: string;
  /** A fresh state for these linked models (no feedback yet). */
  init(models: readonly string[]): State;
  select(state: State, context: SelectionContext): Selection;
  /** Combines the outputs that arrived (by model); `selection` is what `select` chose for this query. */
  combine(state: State, outputs: ReadonlyMap<string, unknown>, selection: Selection): Combined;
  /** The state after feedback; never mutates `state`. */
  observe(state: State, feedback: PolicyFeedback): State;
}

/** Refuses a policy parameter outside its range, naming it. */
export function checkParameter(policy: string, name: string, value: number, ok: boolean): void {
  if (!Number.isFinite(value) || !ok)
    throw new RangeError(`${policy}: ${name} is out of range, got ${value}`);
}

/** Samples an index from a probability vector with one uniform draw. */
export function sample(probabilities: readonly number[], u: number): number {
  let acc = 0;
  for (let i = 0; i < probabilities.length; i++) {
    acc += probabilities[i]!;
    if (u < acc) return i;
  }
  return probabilities.length - 1;
}

/** A record mapping each model to `value(model, i)`. */
export function byModel(
  models: readonly string[],
  value: (model: string, i: number) => number,
): Record<string, number> {
  const out: Record<string, number> = {};
  models.forEach((m, i) => {
    out[m] = value(m, i);
  });
  return out;
}

/** The single-model `combine`: the chosen model's output, confidence 1, or nothing and confidence 0. */
export function combineSingle(outputs: ReadonlyMap<string, unknown>, selection: Selection): Combined {
  const model = selection.models[0]!;
  if (outputs.has(model)) return { output: outputs.get(model), confidence: 1, missing: [] };
  return { output: undefined, confidence: 0, missing: [model] };
}
