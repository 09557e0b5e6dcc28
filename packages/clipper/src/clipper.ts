import { type Clock, ConfigError, type Predictor, parseConfig, systemClock } from '@geoml/core';
import { type Application, type ApplicationInput, applicationSchema, checkInput } from './application.js';
import {
  type ClipperConfig,
  type ClipperConfigInput,
  clipperConfigSchema,
  type InputType,
  type ModelDeploymentInput,
  modelDeploymentSchema,
} from './config.js';
import {
  Deployments,
  type ModelInfo,
  type ModelVersionInfo,
  type PredictorFactory,
  versionInfo,
} from './deployments.js';
import { emit, type ServingMetrics } from './metrics.js';
import { type CacheLookup, type CacheStats, PredictionCache } from './prediction-cache.js';
import {
  type DefaultReason,
  failure,
  NO_MODEL_EXPLANATION,
  type PredictionResult,
  SLO_EXPLANATION,
  type TaskOutcome,
} from './query.js';
import type { ModelVersionScheduler } from './scheduler.js';
import {
  DEFAULT_POLICY,
  type ModelAnswer,
  ModelSelection,
  type ModelSelectionOptions,
  type SelectionUpdate,
} from './selection/model-selection.js';
import { ServingError } from './serving-error.js';

/** `deployModel` options: the model deployment config without the name and version given apart. */
export type DeployOptions = Omit<ModelDeploymentInput, 'name' | 'version'>;

export interface PredictOptions {
  /** Absolute deadline in the serving clock's milliseconds (`clipper.clock.now()` based). */
  readonly deadline?: number;
  /** Deadline relative to now. With both, the earlier counts. */
  readonly timeoutMs?: number;
  /** The user, for per-user selection state (Clipper's `uid`). */
  readonly uid?: string | number;
  /** A context key for selection state; wins over `uid`. */
  readonly context?: string;
}

export interface PredictModelOptions extends PredictOptions {
  /** A deployed version; by default the serving one. */
  readonly version?: string;
}

export interface ClipperOptions extends ClipperConfigInput {
  /** The clock every deadline, batch and timer uses; a `VirtualClock` makes the whole core deterministic. */
  readonly clock?: Clock;
  readonly metrics?: ServingMetrics;
  /** The model-selection layer: its state store (share a transport to share state), policies, seed. */
  readonly selection?: ModelSelection | ModelSelectionOptions;
}

/** Feedback received by `update`, kept (bounded) for the selection layer. */
export interface FeedbackRecord {
  readonly app: string;
  readonly feedback: unknown;
  /** Clock ms. */
  readonly receivedAt: number;
  /** What the feedback did to the application's selection state (not for the `default` policy). */
  readonly selection?: SelectionUpdate;
}

/**
 * The serving core, in process: applications, model versions with their replicas, queues, batch
 * controllers and the prediction cache. Every frontend (Clipper REST, Open Inference Protocol, admin) is a
 * thin layer over this class.
 *
 * A query is always answered: with the model's output, or with the application's default output and an
 * explanation when no model is linked, the query is refused at admission, expires, its replica fails, or
 * the deadline passes. Calls that cannot be served at all (unknown application, input of the wrong kind,
 * a closed core) throw a `ServingError`; bad configuration throws a `ConfigError` naming the field.
 */
export class Clipper {
  readonly clock: Clock;
  readonly config: ClipperConfig;
  /** The model-selection layer: policies, their shared state, the decision log. */
  readonly selection: ModelSelection;
  private readonly metrics: ServingMetrics | undefined;
  private readonly cache: PredictionCache;
  private readonly apps = new Map<string, Application>();
  private readonly feedbackLog = new Map<string, FeedbackRecord[]>();
  private readonly models: Deployments;
  private nextQueryId = 0;
  private closing: Promise<void> | undefined;

  constructor(options: ClipperOptions = {}) {
    const { clock, metrics, selection, ...config } = options;
    this.config = parseConfig(clipperConfigSchema, config, 'clipper options');
    this.clock = clock ?? systemClock;
    this.selection = selection instanceof ModelSelection ? selection : new ModelSelection(selection);
    this.metrics = metrics;
    this.cache = new PredictionCache(this.config.cache);
    this.models = new Deployments({ clock: this.clock, metrics, closeGraceMs: this.config.closeGraceMs });
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  // ---------------------------------------------------------------- applications

  /** Registers an application; its linked models must be deployed. */
  registerApplication(input: ApplicationInput): Application {
    this.assertOpen();
    const app = parseConfig(applicationSchema, input, 'application');
    if (this.apps.has(app.name)) {
      throw new ServingError('ALREADY_EXISTS', `application ${app.name} is already registered`);
    }
    for (const model of app.linkedModels) this.checkLink(app, model);
    this.selection.checkApplication(app);
    const frozen = freezeApp({ ...app, linkedModels: [...new Set(app.linkedModels)] });
    this.apps.set(app.name, frozen);
    this.feedbackLog.set(app.name, []);
    return frozen;
  }

  getApplication(name: string): Application {
    const app = this.apps.get(name);
    if (!app) throw new ServingError('UNKNOWN_APPLICATION', `no application named ${JSON.stringify(name)}`);
    return app;
  }

  listApplications(): Application[] {
    return [...this.apps.values()];
  }

  deleteApplication(name: string): void {
    this.getApplication(name);
    this.apps.delete(name);
    this.feedbackLog.delete(name);
  }

  /** Links a deployed model to an application; its queries then go to the model's serving version. */
  linkModel(appName: string, model: string): Application {
    const app = this.getApplication(appName);
    this.checkLink(app, model);
    if (app.linkedModels.includes(model)) return app;
    const linked = freezeApp({ ...app, linkedModels: [...app.linkedModels, model] });
    this.apps.set(appName, linked);
    return linked;
  }

  unlinkModel(appName: string, model: string): Application {
    const app = this.getApplication(appName);
    const unlinked = freezeApp({ ...app, linkedModels: app.linkedModels.filter((m) => m !== model) });
    this.apps.set(appName, unlinked);
    return unlinked;
  }

  // ---------------------------------------------------------------- models

  /**
   * Deploys a model version on `replicas` (predictors, or a factory called once per replica, `options.replicas`
   * times). By default the new version becomes the serving one (`activate: false` deploys it dark).
   */
  async deployModel(
    name: string,
    version: string | number,
    replicas: readonly Predictor[] | PredictorFactory,
    options: DeployOptions = {},
  ): Promise<ModelVersionInfo> {
    this.assertOpen();
    const count = typeof replicas === 'function' ? options.replicas : replicas.length;
    const deployment = parseConfig(
      modelDeploymentSchema,
      { ...options, name, version: String(version), replicas: count },
      `model deployment ${name}:${version}`,
    );
    for (const app of this.apps.values()) {
      if (app.linkedModels.includes(deployment.name)) {
        checkTypes(app, deployment.name, deployment.version, deployment.inputType);
      }
    }
    const scheduler = await this.models.deploy(deployment, replicas, () => this.closed);
    return versionInfo(scheduler, this.models.find(deployment.name) === scheduler, this.closed);
  }

  /**
   * Makes `version` the one every linked application queries: roll forward, or roll back to an older
   * version still deployed. Queries already queued on the previous version finish there.
   */
  setServingVersion(name: string, version: string | number): ModelInfo {
    this.models.setServing(name, String(version));
    return this.getModel(name);
  }

  /**
   * Stops a version: queued queries get the default, running batches finish (within `closeGraceMs`) and the
   * replicas are disposed. The serving version can only go with `force` (its applications then get the
   * default output until another version serves).
   */
  async undeployModel(
    name: string,
    version: string | number,
    options: { force?: boolean } = {},
  ): Promise<void> {
    const v = String(version);
    const closing = this.models.undeploy(name, v, options.force ?? false);
    this.cache.invalidate(name, v);
    await closing;
  }

  /**
   * Sets how many replicas serve a model version (Clipper's `set_num_replicas`). Scaling up calls
   * `factory`, or the factory the version was deployed with; scaling down lets the removed replicas
   * finish their batch, then disposes them. At least one replica remains.
   */
  async scaleModel(
    name: string,
    version: string | number,
    replicas: number,
    factory?: PredictorFactory,
  ): Promise<ModelVersionInfo> {
    this.assertOpen();
    const { replicas: count } = parseConfig(replicaCountSchema, { replicas }, 'replica scaling');
    const v = String(version);
    await this.models.scale(name, v, count, factory);
    const scheduler = this.models.get(name, v);
    return versionInfo(scheduler, this.models.find(name) === scheduler, this.closed);
  }

  getModel(name: string): ModelInfo {
    return this.models.info(name, this.closed);
  }

  listModels(): ModelInfo[] {
    return this.models.names().map((name) => this.getModel(name));
  }

  /** Whether a model (its serving version, or `version`) can take queries: the OIP `/ready` probe. */
  isReady(name: string, version?: string | number): boolean {
    const scheduler = this.models.find(name, version === undefined ? undefined : String(version));
    return !this.closed && scheduler !== undefined && !scheduler.closed;
  }

  // ---------------------------------------------------------------- queries

  /**
   * Answers one query of application `appName` by its deadline: `options.deadline` / `timeoutMs`, never
   * later than the application's latency SLO (a request may only shorten it, as Triton's
   * `allow_timeout_override`). Resolves with the default output (and `default: true` with an explanation)
   * whenever the model does not answer in time.
   */
  async predict<O = unknown>(
    appName: string,
    input: unknown,
    options: PredictOptions = {},
  ): Promise<PredictionResult<O>> {
    const start = this.clock.now();
    this.assertOpen();
    const app = this.getApplication(appName);
    checkInput(app.inputType, input, `application ${app.name}`);
    const deadline = Math.min(
      this.deadlineOf(options, start) ?? Number.POSITIVE_INFINITY,
      start + app.latencySloMs,
    );
    const queryId = this.nextQueryId++;
    // Selection: Clipper's DefaultOutputSelectionPolicy, the first linked model. Bandits replace this.
    const model = app.linkedModels[0];
    if (model === undefined) {
      return this.finish(queryId, app.name, start, app.defaultOutput, undefined, undefined, {
        outcome: failure('no-model', NO_MODEL_EXPLANATION),
      });
    }
    if (app.selectionPolicy !== DEFAULT_POLICY) {
      const timing = { clock: this.clock, start, deadline };
      const chosen = await this.selection.predict(app, input, queryId, timing, options, (m) =>
        this.askModel(m, input, deadline, start),
      );
      const result = this.finish<O>(
        queryId,
        app.name,
        start,
        app.defaultOutput,
        chosen.model,
        chosen.version,
        chosen.answer,
      );
      return { ...result, ...chosen.details };
    }
    const scheduler = this.models.find(model);
    if (!scheduler) {
      return this.finish(queryId, app.name, start, app.defaultOutput, model, undefined, {
        outcome: failure('no-model', `${NO_MODEL_EXPLANATION}: model ${model} has no serving version`),
      });
    }
    const answer = await this.ask(scheduler, input, deadline, start);
    return this.finish(queryId, app.name, start, app.defaultOutput, model, scheduler.version, answer);
  }

  /**
   * Queries a model version directly, without an application (the Open Inference Protocol's `infer`).
   * Its deadline defaults to `modelTimeoutMs`; a query that misses it resolves with `output: null` and
   * `default: true`.
   */
  async predictModel<O = unknown>(
    name: string,
    input: unknown,
    options: PredictModelOptions = {},
  ): Promise<PredictionResult<O | null>> {
    const start = this.clock.now();
    this.assertOpen();
    const scheduler = this.models.get(
      name,
      options.version === undefined ? undefined : String(options.version),
    );
    const { inputType } = scheduler.deployment;
    if (inputType) checkInput(inputType, input, `model ${name}`);
    const deadline = this.deadlineOf(options, start) ?? start + this.config.modelTimeoutMs;
    const queryId = this.nextQueryId++;
    const answer = await this.ask(scheduler, input, deadline, start);
    return this.finish(queryId, undefined, start, null, name, scheduler.version, answer);
  }

  /**
   * Records feedback for an application (Clipper's `/update`) and, unless its policy is `default`, updates
   * the selection state of the feedback's user or context: `{ uid?, context?, queryId?, model?, input?,
   * output?, label | reward }`. Bad feedback throws at once (`INVALID_INPUT`); the returned promise settles
   * once the state is stored.
   */
  update(appName: string, feedback: unknown): Promise<FeedbackRecord> {
    this.assertOpen();
    const app = this.getApplication(appName);
    if (feedback === undefined)
      throw new ServingError('INVALID_INPUT', `application ${app.name}: feedback is missing`);
    const parsed =
      app.selectionPolicy === DEFAULT_POLICY ? undefined : this.selection.parseFeedback(app, feedback);
    const record: FeedbackRecord = Object.freeze({ app: app.name, feedback, receivedAt: this.clock.now() });
    const log = this.feedbackLog.get(app.name)!;
    log.push(record);
    if (log.length > this.config.feedbackLimit) log.splice(0, log.length - this.config.feedbackLimit);
    if (!parsed) return Promise.resolve(record);
    const applied = this.selection
      .observe(app, parsed, (m, input) => {
        const now = this.clock.now();
        return this.askModel(m, input, now + app.latencySloMs, now);
      })
      .then((selection) => Object.freeze({ ...record, selection }));
    // A caller that does not wait (fire-and-forget feedback) must not crash the process on a store error.
    applied.catch(() => undefined);
    return applied;
  }

  /** Feedback recorded for an application, oldest first (at most `feedbackLimit`). */
  feedback(appName: string): readonly FeedbackRecord[] {
    this.getApplication(appName);
    return [...this.feedbackLog.get(appName)!];
  }

  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  /**
   * Answers every queued query with the default, lets running batches finish (up to `closeGraceMs`),
   * disposes every replica. On a `VirtualClock`, call it inside `clock.run`: the grace period is that
   * clock's time, which only moves there.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled(this.models.all().map((s) => s.close('the serving core is closing')));
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- internals

  /** Runs a query through the cache (when on) and the version's queue, bounded by its deadline. */
  private async ask(
    scheduler: ModelVersionScheduler,
    input: unknown,
    deadline: number,
    now: number,
  ): Promise<{ outcome: TaskOutcome; cached?: CacheLookup }> {
    if (!scheduler.deployment.cache) {
      return { outcome: await this.withinDeadline(scheduler.submit(input, deadline), deadline) };
    }
    let key: string;
    try {
      key = this.cache.key(scheduler.name, scheduler.version, input);
    } catch (cause) {
      throw new ServingError('INVALID_INPUT', `input cannot be hashed: ${(cause as Error).message}`, {
        cause,
      });
    }
    const execute = () => scheduler.submit(input, deadline);
    const first = this.cache.fetch(key, now, deadline, execute);
    emit(this.metrics, 'cache', { model: scheduler.name, version: scheduler.version, lookup: first.lookup });
    if (first.lookup === 'hit') return { outcome: await first.outcome, cached: 'hit' };
    const outcome = await this.withinDeadline(first.outcome, deadline);
    // A query that joined another's execution shares its fate, but not its deadline: if that execution
    // was refused or expired while this query still has time, it tries once on its own.
    if (first.lookup !== 'coalesced' || outcome.ok || !RETRY_ALONE.has(outcome.reason)) {
      return { outcome, cached: first.lookup };
    }
    const later = this.clock.now();
    if (later >= deadline) return { outcome, cached: first.lookup };
    const second = this.cache.fetch(key, later, deadline, execute);
    emit(this.metrics, 'cache', { model: scheduler.name, version: scheduler.version, lookup: second.lookup });
    if (second.lookup === 'hit') return { outcome: await second.outcome, cached: 'hit' };
    return { outcome: await this.withinDeadline(second.outcome, deadline), cached: second.lookup };
  }

  /** Asks a model's serving version (for the selection layer). */
  private async askModel(model: string, input: unknown, deadline: number, now: number): Promise<ModelAnswer> {
    const scheduler = this.models.find(model);
    if (!scheduler) {
      return {
        outcome: failure('no-model', `${NO_MODEL_EXPLANATION}: model ${model} has no serving version`),
      };
    }
    return { ...(await this.ask(scheduler, input, deadline, now)), version: scheduler.version };
  }

  /** The work's outcome, or the SLO default if the deadline comes first. */
  private async withinDeadline(work: Promise<TaskOutcome>, deadline: number): Promise<TaskOutcome> {
    const stop = new AbortController();
    const timeout = this.clock.sleep(deadline - this.clock.now(), stop.signal).then(
      () => SLO_MISSED,
      () => SLO_MISSED,
    );
    try {
      const outcome = await Promise.race([work, timeout]);
      // A busy event loop can run the SLO timer after an answer that came too late: the SLO still holds
      // (the late output is cached all the same, for the next identical query).
      return outcome.ok && this.clock.now() > deadline ? SLO_MISSED : outcome;
    } finally {
      stop.abort();
    }
  }

  private finish<O>(
    queryId: number,
    app: string | undefined,
    start: number,
    defaultOutput: unknown,
    model: string | undefined,
    version: string | undefined,
    answer: { outcome: TaskOutcome; cached?: CacheLookup },
  ): PredictionResult<O> {
    const { outcome, cached } = answer;
    const latencyMs = this.clock.now() - start;
    const reason: DefaultReason | undefined = outcome.ok ? undefined : outcome.reason;
    emit(this.metrics, 'prediction', { app, model, version, latencyMs, default: !outcome.ok, reason });
    const result: {
      -readonly [K in keyof PredictionResult<O>]: PredictionResult<O>[K];
    } = {
      queryId,
      output: (outcome.ok ? outcome.output : defaultOutput) as O,
      default: !outcome.ok,
      latencyMs,
    };
    if (!outcome.ok) {
      result.defaultExplanation = outcome.explanation;
      result.defaultReason = outcome.reason;
    }
    if (model !== undefined) result.model = model;
    if (version !== undefined) result.version = version;
    if (outcome.ok && (cached === 'hit' || cached === 'coalesced')) result.cached = cached;
    return result;
  }

  /** The absolute deadline asked for, if any; refuses a non-finite or non-positive one. */
  private deadlineOf(options: PredictOptions, now: number): number | undefined {
    let deadline: number | undefined;
    if (options.timeoutMs !== undefined) {
      if (
        typeof options.timeoutMs !== 'number' ||
        !(options.timeoutMs > 0) ||
        !Number.isFinite(options.timeoutMs)
      ) {
        throw new ServingError(
          'INVALID_INPUT',
          `timeoutMs must be a positive number of ms, got ${options.timeoutMs}`,
        );
      }
      deadline = now + options.timeoutMs;
    }
    if (options.deadline !== undefined) {
      if (typeof options.deadline !== 'number' || !Number.isFinite(options.deadline)) {
        throw new ServingError(
          'INVALID_INPUT',
          `deadline must be a finite clock time in ms, got ${options.deadline}`,
        );
      }
      deadline = Math.min(deadline ?? Number.POSITIVE_INFINITY, options.deadline);
    }
    return deadline;
  }

  private checkLink(app: Application, model: string): void {
    if (!this.models.has(model)) {
      throw new ServingError('UNKNOWN_MODEL', `no model named ${JSON.stringify(model)} is deployed`);
    }
    for (const s of this.models.versionsOf(model)) checkTypes(app, model, s.version, s.deployment.inputType);
  }

  private assertOpen(): void {
    if (this.closing) throw new ServingError('CLOSED', 'the serving core is closed');
  }
}

/** Refuses a link between an application and a model version that takes another kind of input. */
function checkTypes(
  app: Application,
  model: string,
  version: string,
  inputType: InputType | undefined,
): void {
  if (inputType && inputType !== app.inputType) {
    throw new ConfigError(
      `invalid model link: inputType: model ${model}:${version} takes ${inputType}, ` +
        `application ${app.name} sends ${app.inputType}`,
      ['inputType'],
    );
  }
}

const SLO_MISSED = failure('slo', SLO_EXPLANATION);

const replicaCountSchema = modelDeploymentSchema.pick({ replicas: true }).required();

/** Failures of a shared execution that say nothing about a joined query with a later deadline. */
const RETRY_ALONE: ReadonlySet<DefaultReason> = new Set(['admission', 'queue-full', 'expired']);

function freezeApp(app: Application): Application {
  return Object.freeze({ ...app, linkedModels: Object.freeze([...app.linkedModels]) as string[] });
}
