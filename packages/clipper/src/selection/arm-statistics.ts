/** Pull counts and reward sums per model: the state of the count-based bandits (ε-greedy, UCB1). */
export type ArmState = {
  models: string[];
  counts: number[];
  rewardSums: number[];
  updates: number;
};

export function initArms(models: readonly string[]): ArmState {
  return { models: [...models], counts: models.map(() => 0), rewardSums: models.map(() => 0), updates: 0 };
}

/** Adds each judged model's reward to its count and sum. */
export function observeArms(state: ArmState, rewards: Readonly<Record<string, number>>): ArmState {
  const counts = [...state.counts];
  const rewardSums = [...state.rewardSums];
  let seen = false;
  state.models.forEach((model, i) => {
    const reward = rewards[model];
    if (reward === undefined) return;
    counts[i]! += 1;
    rewardSums[i]! += reward;
    seen = true;
  });
  if (!seen) return state;
  return { models: [...state.models], counts, rewardSums, updates: state.updates + 1 };
}

/** The first model never observed, or -1. */
export function firstUnexplored(state: ArmState): number {
  return state.counts.indexOf(0);
}

/** Index of the highest `score(i)` (the first on ties). */
export function best(state: ArmState, score: (i: number) => number): number {
  let top = 0;
  for (let i = 1; i < state.models.length; i++) if (score(i) > score(top)) top = i;
  return top;
}
