import { type Clock, encodeTensorMap, type Predictor, systemClock, type Tensor } from '@geoml/core';
import { type Transport, TransportError } from '@geoml/transport';
import { ContainerError, type ContainerErrorCode } from '../errors.js';
import { stackBatch, unstackBatch } from '../stack.js';
import { decodeBatch, specsOf } from './batch-check.js';
import {
  HEADER_BATCH_SIZE,
  HEADER_ERROR,
  HEADER_ERROR_MESSAGE,
  HEADER_PROTOCOL,
  HEADER_REPLICA,
  HEADER_REQUEST_ID,
  PROTOCOL_VERSION,
  predictSubject,
} from './protocol.js';
import type { ReplicaLease, ReplicaRouter } from './replica-router.js';

type Query = Record<string, Tensor>;

export interface RemotePredictorOptions {
  readonly model: string;
  readonly version: string;
  /** Bound on one batch's round trip (ms); past it the batch fails with `TIMEOUT`. Default 5000. */
  readonly timeoutMs?: number;
  /**
   * Picks a live replica per batch and reports when it is dropped (a `RemoteContainers`). Without one,
   * batches go to the model version's queue group and NATS picks a replica.
   */
  readonly router?: ReplicaRouter;
  /**
   * Time for `timeoutMs` (default `systemClock`). The transport's own request timer is set to the same
   * bound in the transport's time, only so an abandoned request does not linger there.
   */
  readonly clock?: Clock;
}

/** What a container's `geoml-error` code means to the scheduler. */
const ERROR_MAP: Record<string, ContainerErrorCode> = {
  BAD_INPUT: 'BAD_INPUT',
  BAD_REQUEST: 'BAD_INPUT',
  VERSION_MISMATCH: 'LOAD_FAILED',
  MODEL_ERROR: 'BAD_OUTPUT',
};

let nextRequest = 0;

/**
 * A core `Predictor` whose model runs in a remote container (docs/container-protocol.md): it stacks a batch
 * of per-query `Record<string, Tensor>` inputs, sends it as one request, and splits the reply per query.
 * No responder and a replica dropped mid-batch fail with `CRASHED` (the scheduler retries elsewhere), no
 * answer in time with `TIMEOUT`, and a container's `geoml-error` with `BAD_INPUT` (or `BAD_OUTPUT` for a
 * model failure, `LOAD_FAILED` for a protocol mismatch).
 */
export class RemotePredictor implements Predictor<Query, Query> {
  readonly model: string;
  readonly version: string;
  private readonly timeoutMs: number;
  private readonly router: ReplicaRouter | undefined;
  private readonly clock: Clock;
  private disposed = false;

  constructor(
    private readonly transport: Transport,
    options: RemotePredictorOptions,
  ) {
    this.model = options.model;
    this.version = options.version;
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${this.timeoutMs}`);
    this.router = options.router;
    this.clock = options.clock ?? systemClock;
  }

  async predict(inputs: readonly Query[]): Promise<Query[]> {
    if (this.disposed)
      throw new ContainerError('DISPOSED', `remote predictor of ${this.label()} was disposed`);
    if (inputs.length === 0) return [];
    const lease = this.router?.lease(this.model, this.version);
    try {
      const specs = lease?.inputs ?? specsOf(inputs[0]!);
      const body = encodeTensorMap(new Map(Object.entries(stackBatch(inputs, specs))));
      return await this.send(body, inputs.length, lease);
    } finally {
      lease?.release();
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  private async send(body: Uint8Array, size: number, lease: ReplicaLease | undefined): Promise<Query[]> {
    const subject = lease?.subject ?? predictSubject(this.model, this.version);
    const requestId = `${process.pid}-${++nextRequest}`;
    // Inside a promise: a transport may refuse a request synchronously (closed, over max_payload).
    const request = Promise.resolve().then(() =>
      this.transport.request(subject, body, {
        timeoutMs: this.timeoutMs,
        headers: {
          [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
          [HEADER_BATCH_SIZE]: String(size),
          [HEADER_REQUEST_ID]: requestId,
        },
      }),
    );
    const where = lease ? `replica ${lease.replica} of ${this.label()}` : `${this.label()} (any replica)`;
    let reply: Awaited<typeof request>;
    try {
      reply = await this.answerOf(request, lease, where);
    } catch (err) {
      if (err instanceof ContainerError) throw err;
      const code = err instanceof TransportError ? err.code : undefined;
      if (code === 'TIMEOUT') throw this.timedOut(where, err);
      if (code === 'TOO_LARGE') {
        // BAD_INPUT makes the scheduler rerun each query alone: smaller requests that may fit.
        throw new ContainerError(
          'BAD_INPUT',
          `a batch of ${size} for ${where} exceeds the server's max_payload`,
          {
            cause: err,
          },
        );
      }
      const why =
        code === 'NO_RESPONDERS'
          ? 'has no live replica (no responders)'
          : `failed: ${(err as Error).message}`;
      throw new ContainerError('CRASHED', `${where} ${why}`, { cause: err });
    }
    const h = reply.headers ?? {};
    const answeredBy = h[HEADER_REPLICA] ? `replica ${h[HEADER_REPLICA]} of ${this.label()}` : where;
    const remoteCode = h[HEADER_ERROR];
    if (remoteCode !== undefined) {
      const message = h[HEADER_ERROR_MESSAGE] ?? '(no message)';
      throw new ContainerError(
        ERROR_MAP[remoteCode] ?? 'BAD_OUTPUT',
        `${answeredBy}: ${remoteCode}: ${message}`,
      );
    }
    if (h[HEADER_REQUEST_ID] !== undefined && h[HEADER_REQUEST_ID] !== requestId) {
      throw new ContainerError(
        'BAD_OUTPUT',
        `${answeredBy} answered request ${h[HEADER_REQUEST_ID]}, not ${requestId}`,
      );
    }
    if (Number(h[HEADER_BATCH_SIZE]) !== size) {
      throw new ContainerError(
        'BAD_OUTPUT',
        `${answeredBy} answered ${h[HEADER_BATCH_SIZE] ?? '(no ' + HEADER_BATCH_SIZE + ')'} outputs for a batch of ${size}`,
      );
    }
    return unstackBatch(decodeBatch(reply.data, size, 'reply'), size);
  }

  /**
   * The reply to `request`; `TIMEOUT` once `timeoutMs` of the clock has passed; with a lease, `CRASHED` as
   * soon as the replica is dropped (it will never answer: the batch is retried elsewhere at once). Leaves
   * no timer, no listener and no promise to reject unobserved.
   */
  private answerOf<T>(request: Promise<T>, lease: ReplicaLease | undefined, where: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = new AbortController();
      let unwatch = () => {};
      const settle = (end: () => void) => {
        timer.abort();
        unwatch();
        end();
      };
      this.clock.sleep(this.timeoutMs, timer.signal).then(
        () => settle(() => reject(this.timedOut(where))),
        () => {},
      );
      if (lease) {
        unwatch = lease.onGone(() =>
          settle(() =>
            reject(new ContainerError('CRASHED', `${where} stopped heartbeating and was dropped mid-batch`)),
          ),
        );
      }
      request.then(
        (value) => settle(() => resolve(value)),
        (err) => settle(() => reject(err)),
      );
    });
  }

  private timedOut(where: string, cause?: unknown): ContainerError {
    const message = `${where} gave no answer within ${this.timeoutMs} ms`;
    return new ContainerError('TIMEOUT', message, cause === undefined ? undefined : { cause });
  }

  private label(): string {
    return `model ${this.model}:${this.version}`;
  }
}
