import { type Clock, ConfigError, createRng, type Rng } from '@geoml/core';
import type { Transport } from '@geoml/transport';
import type { Application } from '../application.js';
import { failure, type TaskOutcome } from '../query.js';
import { ServingError } from '../serving-error.js';
import { labelReward } from './combination.js';
import { DecisionLog, inputHashOf, type SelectionDecision } from './decision-log.js';
import { EpsilonGreedyPolicy } from './epsilon-greedy.js';
import { Exp3Policy } from './exp3.js';
import { Exp4Policy } from './exp4.js';
import { checkFeedback, joinFeedback, type SelectionFeedback } from './feedback.js';
import type { JsonValue, SelectionPolicy } from './policy.js';
import { SelectionStateStore, SHARED_CONTEXT } from './state-store.js';
import { Ucb1Policy } from './ucb1.js';

/** The policy name of Clipper's DefaultOutputSelectionPolicy: the first linked model, feedback ignored. */
export const DEFAULT_POLICY = 'default';

// biome-ignore lint/suspicious/noExplicitAny: a registry holds policies of every state type.
type AnyPolicy = SelectionPolicy<any>;

export interface ModelSelectionOptions {
  /** Where state lives; default a kv bucket of `transport`, else a private in-memory store. */
  readonly store?: SelectionStateStore;
  /** Share state with every frontend on this transport (bucket `geoml-selection`, or `bucket`). */
  readonly transport?: Transport;
  readonly bucket?: string;
  /** Policies beyond (or replacing, by name) `exp3`, `exp4`, `epsilon-greedy` and `ucb1`. */
  readonly policies?: readonly AnyPolicy[];
  /** Seed of the generator every randomised choice draws from. Default 1. */
  readonly seed?: number;
  /** Decisions kept for feedback joins and offline evaluation. Default 10 000. */
  readonly decisionLogSize?: number;
  /** Reward of an output against a feedback label, in [0, 1]; default 1 on a match, else 0. */
  readonly reward?: (output: unknown, label: unknown) => number;
}

/** Who a query or a feedback is about: `context` wins over `uid`; neither means the shared state. */
export interface SelectionKey {
  readonly uid?: string | number;
  readonly context?: string;
}

/** A model's answer to one query, as the serving core gives it. */
export interface ModelAnswer {
  readonly outcome: TaskOutcome;
  readonly version?: string;
  readonly cached?: 'hit' | 'miss' | 'coalesced';
}

/** When a query started and must be answered, on the serving clock. */
export interface QueryTiming {
  readonly clock: Clock;
  readonly start: number;
  readonly deadline: number;
  /**
   * `work`'s value, or undefined once clock time `at` comes first: the serving core passes its deadline
   * watch, so a query sets no timer of its own. Without it, a wait sets a timer.
   */
  readonly bound?: <T>(work: Promise<T>, at: number) => Promise<T | undefined>;
}

/** What the selection layer adds to a prediction. */
export interface SelectionDetails {
  /** The models asked. */
  readonly models: readonly string[];
  /** Asked models with no output by the deadline. */
  readonly missing: readonly string[];
  /** How far the asked models agreed (see `Combined.confidence`). */
  readonly confidence: number;
  /** The probability with which each linked model was chosen. */
  readonly probabilities: Readonly<Record<string, number>>;
  /** The user or context key whose state decided. */
  readonly context: string;
}

export interface SelectedAnswer {
  readonly answer: { outcome: TaskOutcome; cached?: 'hit' | 'miss' | 'coalesced' };
  /** Set when one model was asked. */
  readonly model?: string;
  readonly version?: string;
  readonly details: SelectionDetails;
}

/** What feedback did to the state. */
export interface SelectionUpdate {
  readonly context: string;
  /** Reward given to each judged model. */
  readonly rewards: Readonly<Record<string, number>>;
  /** The kv revision the new state was stored at. */
  readonly revision: number;
  readonly state: JsonValue;
}

/**
 * Clipper's model-selection layer: per application, its policy chooses the model(s) of each query from
 * the state of the query's user or context, combines what arrived by the deadline, logs the decision with
 * its probabilities, and turns feedback into a state update in the shared store.
 */
export class ModelSelection {
  readonly store: SelectionStateStore;
  private readonly policies = new Map<string, AnyPolicy>();
  private readonly rng: Rng;
  private readonly log: DecisionLog;
  private readonly reward: (output: unknown, label: unknown) => number;

  constructor(options: ModelSelectionOptions = {}) {
    this.store =
      options.store ??
      (options.transport
        ? SelectionStateStore.over(options.transport, options.bucket)
        : SelectionStateStore.inMemory());
    for (const p of [new Exp3Policy(), new Exp4Policy(), new EpsilonGreedyPolicy(), new Ucb1Policy()]) {
      this.policies.set(p.name, p);
    }
    for (const p of options.policies ?? []) {
      if (p.name === DEFAULT_POLICY) throw new RangeError(`policy name "${DEFAULT_POLICY}" is reserved`);
      this.policies.set(p.name, p);
    }
    this.rng = createRng(options.seed ?? 1);
    this.log = new DecisionLog(options.decisionLogSize ?? 10_000);
    this.reward = options.reward ?? labelReward;
  }

  /** Names an application's `selectionPolicy` may take. */
  policyNames(): string[] {
    return [DEFAULT_POLICY, ...this.policies.keys()];
  }

  /** Refuses an application whose policy is unknown (a `ConfigError` naming `selectionPolicy`). */
  checkApplication(app: Pick<Application, 'name' | 'selectionPolicy'>): void {
    if (app.selectionPolicy === DEFAULT_POLICY || this.policies.has(app.selectionPolicy)) return;
    throw new ConfigError(
      `invalid application ${app.name}: selectionPolicy: unknown policy ${JSON.stringify(app.selectionPolicy)}` +
        ` (one of ${this.policyNames().join(', ')})`,
      ['selectionPolicy'],
    );
  }

  /** The policy named `name`. */
  policy(name: string): AnyPolicy {
    const p = this.policies.get(name);
    if (!p) throw new ServingError('INVALID_INPUT', `no selection policy named ${JSON.stringify(name)}`);
    return p;
  }

  /** The state key of a query or feedback. */
  contextOf(key: SelectionKey): string {
    if (key.context !== undefined && key.context !== '') return key.context;
    if (key.uid !== undefined && key.uid !== '') return `uid:${key.uid}`;
    return SHARED_CONTEXT;
  }

  /** An application's current state for a user or context. */
  async state(app: Application, key: SelectionKey = {}): Promise<JsonValue> {
    const policy = this.policy(app.selectionPolicy);
    return (await this.store.read(app.name, this.contextOf(key), policy, app.linkedModels)).state;
  }

  /** Decisions this frontend logged, oldest first (at most `decisionLogSize`). */
  decisions(app?: string): SelectionDecision[] {
    return this.log.list(app);
  }

  /**
   * Chooses, asks and combines. `ask` answers by the query's deadline (with a failed outcome past it), so
   * an ensemble is combined at the deadline from whatever arrived.
   */
  async predict(
    app: Application,
    input: unknown,
    queryId: number,
    timing: QueryTiming,
    key: SelectionKey,
    ask: (model: string) => Promise<ModelAnswer>,
  ): Promise<SelectedAnswer> {
    const policy = this.policy(app.selectionPolicy);
    const context = this.contextOf(key);
    const models = app.linkedModels;
    const state = await this.readWithin(timing, () =>
      this.store.read(app.name, context, policy, models),
    ).then(
      (read) => read?.state ?? policy.init(models),
      // The store being unreachable must not fail the query: decide from a fresh state.
      () => policy.init(models) as JsonValue,
    );
    const selection = policy.select(state, { key: context, input, rng: this.rng });
    const answers = await Promise.all(selection.models.map((m) => ask(m)));
    const outputs = new Map<string, unknown>();
    answers.forEach((a, i) => {
      if (a.outcome.ok) outputs.set(selection.models[i]!, a.outcome.output);
    });
    const combined = policy.combine(state, outputs, selection);
    const single = selection.models.length === 1;
    let outcome: TaskOutcome;
    if (outputs.size > 0) outcome = { ok: true, output: combined.output };
    else if (single) outcome = answers[0]!.outcome;
    else outcome = noneArrived(selection.models, answers);
    this.log.add(
      {
        queryId,
        app: app.name,
        context,
        policy: policy.name,
        at: timing.start,
        models: selection.models,
        probabilities: selection.probabilities,
        ...(selection.weights ? { weights: selection.weights } : {}),
        arrived: selection.models.filter((m) => outputs.has(m)),
        missing: combined.missing,
        confidence: combined.confidence,
        inputHash: inputHashOf(input),
      },
      outputs,
    );
    return {
      answer: single && answers[0]!.cached ? { outcome, cached: answers[0]!.cached } : { outcome },
      ...(single ? { model: selection.models[0]! } : {}),
      ...(single && answers[0]!.version ? { version: answers[0]!.version } : {}),
      details: {
        models: selection.models,
        missing: combined.missing,
        confidence: combined.confidence,
        probabilities: selection.probabilities,
        context,
      },
    };
  }

  /**
   * The state read, or undefined when it takes more than half the time left to the deadline: a slow store
   * must not spend the models' time (the query then decides from a fresh state).
   */
  private async readWithin<T>(timing: QueryTiming, read: () => Promise<T>): Promise<T | undefined> {
    const budget = Math.max(0, (timing.deadline - timing.clock.now()) / 2);
    if (timing.bound) return timing.bound(read(), timing.clock.now() + budget);
    const stop = new AbortController();
    const late = timing.clock.sleep(budget, stop.signal).then(
      () => undefined,
      () => undefined,
    );
    try {
      return await Promise.race([read(), late]);
    } finally {
      // A given reason: no DOMException (and no stack trace) per query.
      stop.abort(READ_DONE);
    }
  }

  /** Validates feedback; throws `ServingError` `INVALID_INPUT` naming the problem. */
  parseFeedback(app: Application, feedback: unknown): SelectionFeedback {
    return checkFeedback(app, feedback);
  }

  /**
   * Turns feedback into rewards and stores the policy's updated state. The judged outputs come from the
   * logged decision (by query id, or by input for the same user), from `model` + `output`, or else by
   * asking every linked model the `input` again (`evaluate`; cached predictions make this cheap).
   */
  async observe(
    app: Application,
    feedback: SelectionFeedback,
    evaluate: (model: string, input: unknown) => Promise<ModelAnswer>,
  ): Promise<SelectionUpdate> {
    const policy = this.policy(app.selectionPolicy);
    const { context, rewards, probabilities } = await joinFeedback(
      app,
      feedback,
      this.contextOf(feedback),
      this.log,
      this.reward,
      evaluate,
    );
    const stored = await this.store.modify(app.name, context, policy, app.linkedModels, (s) =>
      policy.observe(s, probabilities ? { rewards, probabilities } : { rewards }),
    );
    return { context, rewards, revision: stored.revision, state: stored.state };
  }
}

const READ_DONE = Symbol('state read done');

/** The default of an ensemble none of whose models answered, explaining each. */
function noneArrived(models: readonly string[], answers: readonly ModelAnswer[]): TaskOutcome {
  const reasons = answers.map((a, i) => `${models[i]}: ${a.outcome.ok ? 'ok' : a.outcome.explanation}`);
  const first = answers.find((a) => !a.outcome.ok)?.outcome;
  const reason = first && !first.ok ? first.reason : 'slo';
  return failure(reason, `none of the ${models.length} ensemble models answered (${reasons.join('; ')})`);
}
