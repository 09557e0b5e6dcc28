/** Multiplicative weights per model, kept as logs so a long run neither overflows nor underflows (Exp3, Exp4). */
export type LogWeightState = {
  models: string[];
  logWeights: number[];
  /** Feedbacks observed. */
  updates: number;
};

export function initLogWeights(models: readonly string[]): LogWeightState {
  return { models: [...models], logWeights: models.map(() => 0), updates: 0 };
}

/** The normalised weights `s_i / Σ s`. */
export function softmax(logWeights: readonly number[]): number[] {
  const max = Math.max(...logWeights);
  const w = logWeights.map((l) => Math.exp(l - max));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/**
 * Subtracts `step(model, i)` from each judged model's log weight (a multiplicative update); the state
 * unchanged when the feedback judged none of its models.
 */
export function decay(
  state: LogWeightState,
  rewards: Readonly<Record<string, number>>,
  step: (reward: number, i: number) => number,
): LogWeightState {
  const logWeights = [...state.logWeights];
  let seen = false;
  state.models.forEach((model, i) => {
    const reward = rewards[model];
    if (reward === undefined) return;
    logWeights[i]! -= step(reward, i);
    seen = true;
  });
  if (!seen) return state;
  return { models: [...state.models], logWeights: normalizeLogs(logWeights), updates: state.updates + 1 };
}

/** Shifts log weights so the largest is 0 (same probabilities) and floors them (JSON has no −Infinity). */
export function normalizeLogs(logWeights: readonly number[]): number[] {
  const max = Math.max(...logWeights);
  return logWeights.map((l) => Math.max(l - max, -1e6));
}
