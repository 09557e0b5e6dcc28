import type { Clock } from '@geoml/core';
import type { Application } from '../application.js';
import type { SelectionFeedback } from './feedback.js';
import type {
  ModelAnswer,
  ModelSelection,
  QueryTiming,
  SelectedAnswer,
  SelectionKey,
  SelectionUpdate,
} from './model-selection.js';

/** Asks a model's serving version (or its canary) a query due at `deadline`; `now` is when it started. */
export type AskServing = (
  model: string,
  input: unknown,
  deadline: number,
  now: number,
) => Promise<ModelAnswer>;

/**
 * Where the serving core hands a query or a feedback to the model-selection layer (applications whose
 * policy is not `default`): the policy chooses one model or an ensemble, each is asked through the serving
 * core by the query's deadline, and what arrived is combined; feedback that needs models' outputs asks
 * them again within the application's SLO.
 */
export class SelectionDispatch {
  constructor(
    readonly selection: ModelSelection,
    private readonly clock: Clock,
    private readonly askServing: AskServing,
    /** Bounds a wait by a clock time (the serving core's deadline watch). */
    private readonly bound: QueryTiming['bound'],
  ) {}

  predict(
    app: Application,
    input: unknown,
    queryId: number,
    start: number,
    deadline: number,
    key: SelectionKey,
  ): Promise<SelectedAnswer> {
    return this.selection.predict(
      app,
      input,
      queryId,
      { clock: this.clock, start, deadline, bound: this.bound },
      key,
      (m) => this.askServing(m, input, deadline, start),
    );
  }

  observe(app: Application, feedback: SelectionFeedback): Promise<SelectionUpdate> {
    return this.selection.observe(app, feedback, (m, input) => {
      const now = this.clock.now();
      return this.askServing(m, input, now + app.latencySloMs, now);
    });
  }
}
