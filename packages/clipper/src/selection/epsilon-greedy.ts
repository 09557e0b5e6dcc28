import { type ArmState, best, firstUnexplored, initArms, observeArms } from './arm-statistics.js';
import {
  byModel,
  type Combined,
  checkParameter,
  combineSingle,
  type PolicyFeedback,
  type Selection,
  type SelectionContext,
  type SelectionPolicy,
} from './policy.js';

export interface EpsilonGreedyOptions {
  /** Share of queries sent to a uniformly random model. Default 0.1 (Clipper's value). */
  readonly epsilon?: number;
}

/**
 * ε-greedy: with probability ε a uniformly random model, otherwise the model with the best mean reward
 * (a model without feedback yet counts as best, so each is tried once by the greedy part).
 */
export class EpsilonGreedyPolicy implements SelectionPolicy<ArmState> {
  readonly name: string = 'epsilon-greedy';
  readonly epsilon: number;

  constructor(options: EpsilonGreedyOptions = {}) {
    this.epsilon = options.epsilon ?? 0.1;
    checkParameter('EpsilonGreedyPolicy', 'epsilon', this.epsilon, this.epsilon >= 0 && this.epsilon <= 1);
  }

  init(models: readonly string[]): ArmState {
    return initArms(models);
  }

  /** The model the greedy part picks. */
  greedy(state: ArmState): number {
    const unexplored = firstUnexplored(state);
    if (unexplored >= 0) return unexplored;
    return best(state, (i) => state.rewardSums[i]! / state.counts[i]!);
  }

  select(state: ArmState, context: SelectionContext): Selection {
    const k = state.models.length;
    const g = this.greedy(state);
    const explore = context.rng.next() < this.epsilon;
    const chosen = explore ? context.rng.int(k) : g;
    return {
      models: [state.models[chosen]!],
      probabilities: byModel(state.models, (_, i) => this.epsilon / k + (i === g ? 1 - this.epsilon : 0)),
    };
  }

  combine(_state: ArmState, outputs: ReadonlyMap<string, unknown>, selection: Selection): Combined {
    return combineSingle(outputs, selection);
  }

  observe(state: ArmState, feedback: PolicyFeedback): ArmState {
    return observeArms(state, feedback.rewards);
  }
}
