import { decay, initLogWeights, type LogWeightState, softmax } from './log-weights.js';
import {
  byModel,
  type Combined,
  checkParameter,
  combineSingle,
  type PolicyFeedback,
  type Selection,
  type SelectionContext,
  type SelectionPolicy,
  sample,
} from './policy.js';

export interface Exp3Options {
  /** Learning rate η of the weight update `s_i ← s_i · exp(−η · L / p_i)`. Default 0.2 (best of the η sweep in bench/clipper-selection.ts). */
  readonly eta?: number;
  /** Exploration γ: every model keeps at least probability γ/K. Default 0.05. */
  readonly gamma?: number;
}

/** Exp3 state: the log of each model's weight. */
export type Exp3State = LogWeightState;

/**
 * Exp3 (Auer et al., the adversarial multi-armed bandit) as Clipper uses it to pick ONE model per query:
 * model i is sampled with `p_i = (1 − γ) · s_i / Σ s + γ / K`; feedback with loss `L = 1 − reward` on the
 * chosen model updates `s_i ← s_i · exp(−η · L / p_i)`, dividing by the probability it was chosen with so the
 * loss estimate is unbiased although only the chosen model is observed.
 */
export class Exp3Policy implements SelectionPolicy<Exp3State> {
  readonly name: string = 'exp3';
  readonly eta: number;
  readonly gamma: number;

  constructor(options: Exp3Options = {}) {
    this.eta = options.eta ?? 0.2;
    this.gamma = options.gamma ?? 0.05;
    checkParameter('Exp3Policy', 'eta', this.eta, this.eta > 0);
    checkParameter('Exp3Policy', 'gamma', this.gamma, this.gamma >= 0 && this.gamma <= 1);
  }

  init(models: readonly string[]): Exp3State {
    return initLogWeights(models);
  }

  /** Each model's probability of being chosen under `state`. */
  probabilities(state: Exp3State): number[] {
    return exp3Probabilities(state.logWeights, this.gamma);
  }

  select(state: Exp3State, context: SelectionContext): Selection {
    const p = this.probabilities(state);
    const chosen = state.models[sample(p, context.rng.next())]!;
    return { models: [chosen], probabilities: byModel(state.models, (_, i) => p[i]!) };
  }

  combine(_state: Exp3State, outputs: ReadonlyMap<string, unknown>, selection: Selection): Combined {
    return combineSingle(outputs, selection);
  }

  observe(state: Exp3State, feedback: PolicyFeedback): Exp3State {
    const p = this.probabilities(state);
    return decay(state, feedback.rewards, (reward, i) => {
      const pi = feedback.probabilities?.[state.models[i]!] ?? p[i]!;
      return (this.eta * (1 - reward)) / Math.max(pi, 1e-6);
    });
  }
}

/** `(1 − γ) · softmax(logWeights) + γ / K`. */
export function exp3Probabilities(logWeights: readonly number[], gamma: number): number[] {
  const k = logWeights.length;
  return softmax(logWeights).map((x) => (1 - gamma) * x + gamma / k);
}
