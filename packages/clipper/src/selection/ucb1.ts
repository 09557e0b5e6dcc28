import { type ArmState, best, firstUnexplored, initArms, observeArms } from './arm-statistics.js';
import {
  byModel,
  type Combined,
  combineSingle,
  type PolicyFeedback,
  type Selection,
  type SelectionPolicy,
} from './policy.js';

/**
 * UCB1 (Auer, Cesa-Bianchi and Fischer): every model once, then the model with the highest upper confidence
 * bound `mean_i + sqrt(2 · ln n / n_i)` (n feedbacks in all, n_i for model i). Deterministic: the chosen
 * model's logged probability is 1.
 */
export class Ucb1Policy implements SelectionPolicy<ArmState> {
  readonly name: string = 'ucb1';

  init(models: readonly string[]): ArmState {
    return initArms(models);
  }

  /** Each model's upper confidence bound (Infinity before its first feedback). */
  bounds(state: ArmState): number[] {
    const n = state.counts.reduce((a, b) => a + b, 0);
    return state.models.map((_, i) => {
      const ni = state.counts[i]!;
      if (ni === 0) return Number.POSITIVE_INFINITY;
      return state.rewardSums[i]! / ni + Math.sqrt((2 * Math.log(n)) / ni);
    });
  }

  select(state: ArmState): Selection {
    const unexplored = firstUnexplored(state);
    const bounds = this.bounds(state);
    const chosen = unexplored >= 0 ? unexplored : best(state, (i) => bounds[i]!);
    return {
      models: [state.models[chosen]!],
      probabilities: byModel(state.models, (_, i) => (i === chosen ? 1 : 0)),
    };
  }

  combine(_state: ArmState, outputs: ReadonlyMap<string, unknown>, selection: Selection): Combined {
    return combineSingle(outputs, selection);
  }

  observe(state: ArmState, feedback: PolicyFeedback): ArmState {
    return observeArms(state, feedback.rewards);
  }
}
