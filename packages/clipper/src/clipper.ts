import { type Clock, type Predictor, parseConfig, systemClock, type Tensor } from '@geoml/core';
import { type Application, type ApplicationInput, applicationSchema, checkInput } from './application.js';
import { Applications } from './applications.js';
import { canaryShareSchema } from './canary.js';
import {
  type ClipperConfig,
  type ClipperConfigInput,
  clipperConfigSchema,
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
import { FeedbackLog, type FeedbackRecord } from './feedback-log.js';
import type { ServingMetrics } from './metrics.js';
import { ModelAbstraction, noServingVersion, requestedDeadline } from './model-abstraction.js';
import { parsedBy } from './parsed-config.js';
import { type CacheStats, PredictionCache } from './prediction-cache.js';
import { failure, NO_MODEL_EXPLANATION, type PredictionResult } from './query.js';
import { countRows } from './rows.js';
import {
  DEFAULT_POLICY,
  type ModelAnswer,
  ModelSelection,
  type ModelSelectionOptions,
} from './selection/model-selection.js';
import { SelectionDispatch } from './selection/selection-dispatch.js';
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
  private readonly cache: PredictionCache;
  private readonly apps: Applications;
  private readonly feedbackLog: FeedbackLog;
  private readonly models: Deployments;
  private readonly layer: ModelAbstraction;
  private readonly dispatch: SelectionDispatch;
  private nextQueryId = 0;
  private closing: Promise<void> | undefined;

  constructor(options: ClipperOptions = {}) {
    const { clock, metrics, selection, ...config } = options;
    this.config = parseConfig(clipperConfigSchema, config, 'clipper options');
    this.clock = clock ?? systemClock;
    this.selection = selection instanceof ModelSelection ? selection : new ModelSelection(selection);
    this.cache = new PredictionCache(this.config.cache);
    this.feedbackLog = new FeedbackLog(this.config.feedbackLimit);
    this.models = new Deployments({ clock: this.clock, metrics, closeGraceMs: this.config.closeGraceMs });
    this.apps = new Applications(this.models);
    this.layer = new ModelAbstraction(this.clock, this.cache, metrics);
    this.dispatch = new SelectionDispatch(
      this.selection,
      this.clock,
      (m, input, deadline, now) => this.askModel(m, input, deadline, now),
      (work, at) => this.layer.within(work, at),
    );
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
    this.selection.checkApplication(app);
    const added = this.apps.add(app);
    this.feedbackLog.open(app.name);
    return added;
  }

  getApplication(name: string): Application {
    return this.apps.get(name);
  }

  listApplications(): Application[] {
    return this.apps.list();
  }

  deleteApplication(name: string): void {
    this.apps.delete(name);
    this.feedbackLog.delete(name);
  }

  /** Links a deployed model to an application; its queries then go to the model's serving version. */
  linkModel(appName: string, model: string): Application {
    return this.apps.link(appName, model);
  }

  unlinkModel(appName: string, model: string): Application {
    return this.apps.unlink(appName, model);
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
    // A deployment parsed beforehand (the hot-loader parses a model's once per watch) is taken as is.
    const deployment =
      parsedBy(modelDeploymentSchema, options) &&
      options.name === name &&
      options.version === String(version) &&
      options.replicas === count
        ? options
        : parseConfig(
            modelDeploymentSchema,
            { ...options, name, version: String(version), replicas: count },
            `model deployment ${name}:${version}`,
          );
    this.apps.checkVersion(deployment.name, deployment.version, deployment.inputType);
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
   * Canary release: sends `share` (in (0, 1]) of the model's live traffic — queries reaching its serving
   * version through an application, or `predictModel` without a version — to `version`, a deployed version
   * other than the serving one; the rest stays on the serving version. One canary per model: a second call
   * replaces the first. The split is deterministic (see `CanarySplit`); judge it by the versions' `stats`.
   * A query the canary's replica fails is retried once on the serving version while its deadline allows
   * (the canary's `stats` still count the failure). Making the canary serve (`setServingVersion`) or
   * undeploying it ends the split.
   */
  setCanary(name: string, version: string | number, share: number): ModelInfo {
    this.assertOpen();
    const parsed = parseConfig(canaryShareSchema, { share }, `canary of model ${name}`);
    this.models.setCanary(name, String(version), parsed.share);
    return this.getModel(name);
  }

  /** Ends a model's canary split: all live traffic goes to the serving version again. */
  clearCanary(name: string): ModelInfo {
    this.models.clearCanary(name);
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

  /**
   * One version's info (the serving one when `version` is omitted), or undefined when it is not deployed:
   * what a request path needs, without building every version's (`getModel` throws for an unknown model).
   */
  getModelVersion(name: string, version?: string | number): ModelVersionInfo | undefined {
    const s = this.models.find(name, version === undefined ? undefined : String(version));
    return s && versionInfo(s, this.models.find(name)?.version === s.version, this.closed);
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
      requestedDeadline(options, start) ?? Number.POSITIVE_INFINITY,
      start + app.latencySloMs,
    );
    const queryId = this.nextQueryId++;
    // Selection: Clipper's DefaultOutputSelectionPolicy, the first linked model. Bandits replace this.
    const model = app.linkedModels[0];
    if (model === undefined) {
      return this.layer.finish(queryId, app.name, start, app.defaultOutput, undefined, undefined, {
        outcome: failure('no-model', NO_MODEL_EXPLANATION),
      });
    }
    if (app.selectionPolicy !== DEFAULT_POLICY) {
      const chosen = await this.dispatch.predict(app, input, queryId, start, deadline, options);
      const result = this.layer.finish<O>(
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
    const scheduler = this.models.route(model);
    if (!scheduler) {
      return this.layer.finish(
        queryId,
        app.name,
        start,
        app.defaultOutput,
        model,
        undefined,
        noServingVersion(model),
      );
    }
    const answer = await this.layer.askLive(scheduler, this.models.find(model), input, deadline, start);
    const version = answer.version ?? scheduler.version;
    return this.layer.finish(queryId, app.name, start, app.defaultOutput, model, version, answer);
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
    return this.askVersion<O>(name, input, options, start, undefined);
  }

  /**
   * Queries a model version with a request's batch as one unit, as Triton and the Open Inference Protocol
   * send it: `rows` names tensors sharing a leading row dimension (`[rows, ...item]`). The rows travel as
   * one query: they count as rows against the queue bound and admission, are copied once into a model
   * batch shared with other queries' rows (split over two batches when only some fit, so batches stay
   * full), and the answer is the model's outputs for exactly these rows, `[rows, ...item]` each (views of
   * the model's batch: treat them as read-only). Deadline, canary and default output as `predictModel`;
   * with the cache on, the whole batch is one entry. Inputs that disagree on their rows throw
   * `INVALID_INPUT`.
   */
  async predictModelBatch<O = Record<string, Tensor>>(
    name: string,
    rows: Record<string, Tensor>,
    options: PredictModelOptions = {},
  ): Promise<PredictionResult<O | null>> {
    const start = this.clock.now();
    this.assertOpen();
    return this.askVersion<O>(name, rows, options, start, countRows(rows, `model ${name}`));
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
    this.feedbackLog.add(record);
    if (!parsed) return Promise.resolve(record);
    const applied = this.dispatch
      .observe(app, parsed)
      .then((selection) => Object.freeze({ ...record, selection }));
    // A caller that does not wait (fire-and-forget feedback) must not crash the process on a store error.
    applied.catch(() => undefined);
    return applied;
  }

  /** Feedback recorded for an application, oldest first (at most `feedbackLimit`). */
  feedback(appName: string): readonly FeedbackRecord[] {
    this.getApplication(appName);
    return this.feedbackLog.list(appName);
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
      this.layer.close();
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- internals

  /** `predictModel` and `predictModelBatch` past their argument checks. */
  private async askVersion<O>(
    name: string,
    input: unknown,
    options: PredictModelOptions,
    start: number,
    rows: number | undefined,
  ): Promise<PredictionResult<O | null>> {
    const live = options.version === undefined;
    const scheduler = live
      ? (this.models.route(name) ?? this.models.get(name))
      : this.models.get(name, String(options.version));
    const { inputType } = scheduler.deployment;
    if (inputType) checkInput(inputType, input, `model ${name}`);
    const deadline = requestedDeadline(options, start) ?? start + this.config.modelTimeoutMs;
    const queryId = this.nextQueryId++;
    // A pinned version is not live traffic: no canary, nothing to fall back on.
    const serving = live ? this.models.find(name) : undefined;
    const answer = await this.layer.askLive(scheduler, serving, input, deadline, start, rows);
    const version = answer.version ?? scheduler.version;
    return this.layer.finish(queryId, undefined, start, null, name, version, answer);
  }

  /** Asks a model's serving version (for the selection layer). */
  private async askModel(model: string, input: unknown, deadline: number, now: number): Promise<ModelAnswer> {
    const scheduler = this.models.route(model);
    if (!scheduler) return noServingVersion(model);
    const answer = await this.layer.askLive(scheduler, this.models.find(model), input, deadline, now);
    return { ...answer, version: answer.version ?? scheduler.version };
  }

  private assertOpen(): void {
    if (this.closing) throw new ServingError('CLOSED', 'the serving core is closed');
  }
}

const replicaCountSchema = modelDeploymentSchema.pick({ replicas: true }).required();
