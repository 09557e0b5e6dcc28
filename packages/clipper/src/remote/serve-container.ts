import { randomUUID } from 'node:crypto';
import { type Clock, encodeTensorMap, type Predictor, systemClock, type Tensor } from '@geoml/core';
import type { Msg, Subscription, Transport } from '@geoml/transport';
import { ContainerError } from '../errors.js';
import { type InputSpec, stackBatch, unstackBatch } from '../stack.js';
import { checkStacked, decodeBatch, specsOf } from './batch-check.js';
import {
  checkToken,
  DEFAULT_HEARTBEAT_MS,
  DISCOVER_SUBJECT,
  encodeJson,
  GOODBYE_SUBJECT,
  HEADER_BATCH_SIZE,
  HEADER_ERROR,
  HEADER_ERROR_MESSAGE,
  HEADER_PROTOCOL,
  HEADER_REPLICA,
  HEADER_REQUEST_ID,
  HEARTBEAT_SUBJECT,
  PROTOCOL_VERSION,
  predictSubject,
  queueGroup,
  REGISTER_SUBJECT,
  type Registration,
  type RemoteErrorCode,
  replicaSubject,
} from './protocol.js';

type Query = Record<string, Tensor>;

/** A batch function over stacked tensors: every input and output has the batch as dimension 0. */
export type StackedPredict = (batch: Record<string, Tensor>, size: number) => Promise<Query> | Query;

export interface ServeContainerOptions {
  readonly model: string;
  readonly version: string | number;
  /** Per-query model (`Record<string, Tensor>` in and out, no batch dimension), e.g. an `OnnxPredictor`. */
  readonly predictor?: Predictor<Query, Query>;
  /** Or a function over the stacked batch. Exactly one of `predictor` and `predict`. */
  readonly predict?: StackedPredict;
  /** Input signature: requests not matching it are answered `BAD_INPUT` without running the model. */
  readonly inputs: readonly InputSpec[];
  /** Heartbeat period (ms); registries drop a replica after missing a few. Default 1000. */
  readonly heartbeatMs?: number;
  /** Replica id (a subject token); default a random UUID. */
  readonly replica?: string;
  readonly maxBatchSize?: number;
  /** Time for the heartbeats. Default `systemClock`. */
  readonly clock?: Clock;
}

/** A running container; `close` says goodbye, stops heartbeats and lets batches in flight finish. */
export interface ContainerHandle {
  readonly model: string;
  readonly version: string;
  readonly replica: string;
  /** Batches answered so far (with outputs or an error). */
  readonly answered: number;
  close(): Promise<void>;
}

class RemoteReplyError extends Error {
  constructor(
    readonly code: RemoteErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Serves a model over `transport` as a container of the protocol in docs/container-protocol.md: registers,
 * heartbeats every `heartbeatMs`, answers batch requests on the model version's queue-group subject and on
 * its own replica subject, and reports failures in the `geoml-error` header. The transport stays the
 * caller's; if it closes, the container stops with it.
 */
export async function serveContainer(
  transport: Transport,
  options: ServeContainerOptions,
): Promise<ContainerHandle> {
  const model = checkToken('model', options.model);
  const version = checkToken('version', String(options.version));
  const replica = checkToken('replica', options.replica ?? randomUUID());
  if ((options.predictor === undefined) === (options.predict === undefined)) {
    throw new ContainerError('LOAD_FAILED', 'serveContainer needs exactly one of predictor and predict');
  }
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0) {
    throw new ContainerError('LOAD_FAILED', `heartbeatMs must be a positive integer, got ${heartbeatMs}`);
  }
  const clock = options.clock ?? systemClock;
  const inputs = options.inputs.map((s) => ({ name: s.name, dtype: s.dtype, shape: [...s.shape] }));
  const registration: Registration = {
    protocol: PROTOCOL_VERSION,
    model,
    version,
    replica,
    inputs,
    heartbeatMs,
    ...(options.maxBatchSize === undefined ? {} : { maxBatchSize: options.maxBatchSize }),
  };

  const run = async (batch: Record<string, Tensor>, size: number): Promise<Query> => {
    if (options.predict) return options.predict(batch, size);
    const outputs = await options.predictor!.predict(unstackBatch(batch, size));
    if (!Array.isArray(outputs) || outputs.length !== size) {
      throw new RemoteReplyError(
        'MODEL_ERROR',
        `the model gave ${outputs?.length} outputs for ${size} inputs`,
      );
    }
    try {
      return stackBatch(outputs, specsOf(outputs[0]!));
    } catch (err) {
      throw new RemoteReplyError(
        'MODEL_ERROR',
        `the model's outputs cannot be stacked: ${(err as Error).message}`,
      );
    }
  };

  const inFlight = new Set<Promise<void>>();
  let answered = 0;
  const handle = async (msg: Msg): Promise<void> => {
    const requestId = msg.headers?.[HEADER_REQUEST_ID];
    const base: Record<string, string> = { [HEADER_REPLICA]: replica };
    if (requestId !== undefined) base[HEADER_REQUEST_ID] = requestId;
    let body: Uint8Array;
    let headers: Record<string, string>;
    try {
      const protocol = msg.headers?.[HEADER_PROTOCOL];
      if (protocol !== String(PROTOCOL_VERSION)) {
        throw new RemoteReplyError(
          'VERSION_MISMATCH',
          `this container speaks protocol ${PROTOCOL_VERSION}, the request says ${protocol ?? '(none)'}`,
        );
      }
      const size = Number(msg.headers?.[HEADER_BATCH_SIZE]);
      if (!Number.isInteger(size) || size < 1) {
        throw new RemoteReplyError('BAD_REQUEST', `${HEADER_BATCH_SIZE} must be a positive integer`);
      }
      const batch = decodeBatch(msg.data, size, 'request');
      checkStacked(batch, inputs);
      const out = await run(batch, size);
      for (const [name, t] of Object.entries(out)) {
        if (t?.shape?.[0] !== size) {
          throw new RemoteReplyError(
            'MODEL_ERROR',
            `output '${name}' does not have the batch (${size}) as dimension 0`,
          );
        }
      }
      body = encodeTensorMap(new Map(Object.entries(out)));
      headers = { ...base, [HEADER_BATCH_SIZE]: String(size) };
    } catch (err) {
      const code: RemoteErrorCode =
        err instanceof RemoteReplyError
          ? err.code
          : err instanceof ContainerError && err.code === 'BAD_INPUT'
            ? 'BAD_INPUT'
            : 'MODEL_ERROR';
      body = new Uint8Array(0);
      headers = { ...base, [HEADER_ERROR]: code, [HEADER_ERROR_MESSAGE]: oneLine((err as Error).message) };
    }
    try {
      msg.respond(body, { headers });
    } catch (err) {
      // Typically a reply over the server's max_payload: say so rather than leave the caller waiting.
      try {
        msg.respond(new Uint8Array(0), {
          headers: {
            ...base,
            [HEADER_ERROR]: 'MODEL_ERROR',
            [HEADER_ERROR_MESSAGE]: oneLine(`cannot send the reply: ${(err as Error).message}`),
          },
        });
      } catch {
        // The transport is gone; nothing can be answered.
      }
    }
    answered++;
  };

  const serve = async (sub: Subscription) => {
    for await (const msg of sub) {
      const p = handle(msg).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  };

  const subs = [
    transport.subscribe(predictSubject(model, version), { queue: queueGroup(model, version) }),
    transport.subscribe(replicaSubject(model, version, replica)),
  ];
  const discover = transport.subscribe(DISCOVER_SUBJECT);
  const stopped = new AbortController();
  const publish = (subject: string, value: unknown) => {
    try {
      transport.publish(subject, encodeJson(value), { lane: 'control' });
      return true;
    } catch {
      return false;
    }
  };
  const loops = [
    ...subs.map(serve),
    (async () => {
      for await (const _ of discover) publish(REGISTER_SUBJECT, registration);
    })(),
    (async () => {
      for (let seq = 1; !stopped.signal.aborted && !transport.isClosed; seq++) {
        try {
          await clock.sleep(heartbeatMs, stopped.signal);
        } catch {
          return;
        }
        if (stopped.signal.aborted || !publish(HEARTBEAT_SUBJECT, { ...registration, seq })) return;
      }
    })(),
  ].map((p) => p.catch(() => undefined));
  // Subscriptions exist before the registration goes out, so a registry may use the replica at once.
  await transport.flush();
  publish(REGISTER_SUBJECT, { ...registration, seq: 0 });
  await transport.flush().catch(() => undefined);

  let closing: Promise<void> | undefined;
  return {
    model,
    version,
    replica,
    get answered() {
      return answered;
    },
    close() {
      closing ??= (async () => {
        stopped.abort();
        publish(GOODBYE_SUBJECT, { model, version, replica });
        for (const s of [...subs, discover]) s.unsubscribe();
        await Promise.allSettled([...inFlight]);
        await Promise.allSettled(loops);
        if (!transport.isClosed) await transport.flush().catch(() => undefined);
      })();
      return closing;
    },
  };
}

function oneLine(message: string): string {
  return message.replace(/[\r\n]+/g, ' ').slice(0, 1000);
}
