import { type CombineMode, weightedCombine } from './combination.js';
import { decay, initLogWeights, type LogWeightState, softmax } from './log-weights.js';
import {
  byModel,
  type Combined,
  checkParameter,
  type PolicyFeedback,
  type Selection,
  type SelectionPolicy,
} from './policy.js';

export interface Exp4Options {
  /** Learning rate η of the expert-weight update `w_i ← w_i · exp(−η · L_i)`. Default 0.5. */
  readonly eta?: number;
  /** How outputs merge: `auto` averages numeric outputs and votes on labels. Default `auto`. */
  readonly combine?: CombineMode;
}

/** Exp4 state: the log of each model's (expert's) weight. */
export type Exp4State = LogWeightState;

/**
 * Exp4 as Clipper uses it for ensembles: every linked model is asked, their outputs are combined with
 * weights `w_i / Σ w` (a weighted average of numeric outputs, a weighted vote on labels), and feedback updates
 * every judged model, `w_i ← w_i · exp(−η · L_i)` with `L_i = 1 − reward_i` (all models are observed, so no
 * importance weighting).
 */
export class Exp4Policy implements SelectionPolicy<Exp4State> {
  readonly name: string = 'exp4';
  readonly eta: number;
  readonly mode: CombineMode;

  constructor(options: Exp4Options = {}) {
    this.eta = options.eta ?? 0.5;
    this.mode = options.combine ?? 'auto';
    checkParameter('Exp4Policy', 'eta', this.eta, this.eta > 0);
  }

  init(models: readonly string[]): Exp4State {
    return initLogWeights(models);
  }

  /** Each model's normalised weight. */
  weights(state: Exp4State): Record<string, number> {
    const w = softmax(state.logWeights);
    return byModel(state.models, (_, i) => w[i]!);
  }

  select(state: Exp4State): Selection {
    return {
      models: [...state.models],
      probabilities: byModel(state.models, () => 1),
      weights: this.weights(state),
    };
  }

  combine(state: Exp4State, outputs: ReadonlyMap<string, unknown>, selection: Selection): Combined {
    return weightedCombine(outputs, selection.weights ?? this.weights(state), selection.models, this.mode);
  }

  observe(state: Exp4State, feedback: PolicyFeedback): Exp4State {
    return decay(state, feedback.rewards, (reward) => this.eta * (1 - reward));
  }
}
