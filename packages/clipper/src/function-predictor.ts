import { type Clock, type Predictor, systemClock } from '@geoml/core';
import { ContainerError } from './errors.js';

export interface FunctionPredictorOptions {
  /** Bound on one batch (ms); past it the call fails with `TIMEOUT` (the function itself cannot be stopped). */
  readonly timeoutMs?: number;
  /** Called once by `dispose`, e.g. to close a client the function uses. */
  readonly onDispose?: () => void | Promise<void>;
  readonly clock?: Clock;
}

/** A batch function: one output per input, in order. */
export type BatchFunction<I, O> = (inputs: readonly I[]) => Promise<readonly O[]> | readonly O[];

/**
 * A container around a plain function, for models that are code (rules, lookups, a client of another
 * service). It checks the one-output-per-input contract (`BAD_OUTPUT`), bounds a batch by `timeoutMs`
 * (`TIMEOUT`) and refuses calls after `dispose` (`DISPOSED`); errors the function throws pass through.
 */
export class FunctionPredictor<I, O> implements Predictor<I, O> {
  private readonly fn: BatchFunction<I, O>;
  private readonly options: FunctionPredictorOptions;
  private readonly clock: Clock;
  private readonly inFlight = new Set<(error: Error) => void>();
  private disposed = false;

  constructor(fn: BatchFunction<I, O>, options: FunctionPredictorOptions = {}) {
    if (typeof fn !== 'function') throw new TypeError('FunctionPredictor needs a function');
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && !(timeoutMs > 0)) {
      throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
    }
    this.fn = fn;
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  /** A container calling `fn` once per input, all inputs of a batch concurrently. */
  static perItem<I, O>(
    fn: (input: I) => Promise<O> | O,
    options: FunctionPredictorOptions = {},
  ): FunctionPredictor<I, O> {
    return new FunctionPredictor<I, O>((inputs) => Promise.all(inputs.map((input) => fn(input))), options);
  }

  async predict(inputs: readonly I[]): Promise<O[]> {
    if (this.disposed) throw disposedError();
    if (!Array.isArray(inputs)) throw new ContainerError('BAD_INPUT', 'predict expects an array of queries');
    if (inputs.length === 0) return [];
    // One rejecter per call in flight, so dispose() fails them without a listener or controller per batch.
    let failOnDispose: (error: Error) => void = () => undefined;
    const bounds: Promise<never>[] = [
      new Promise<never>((_, reject) => {
        failOnDispose = reject;
      }),
    ];
    this.inFlight.add(failOnDispose);
    const { timeoutMs } = this.options;
    let stop: AbortController | undefined;
    if (timeoutMs !== undefined) {
      stop = new AbortController();
      bounds.push(
        this.clock.sleep(timeoutMs, stop.signal).then(() => {
          throw new ContainerError('TIMEOUT', `batch of ${inputs.length} took longer than ${timeoutMs} ms`);
        }),
      );
    }
    for (const bound of bounds) bound.catch(() => undefined);
    try {
      // Promise.resolve().then also turns a synchronous throw into a rejection of this call.
      const outputs = await Promise.race([Promise.resolve().then(() => this.fn(inputs)), ...bounds]);
      if (!Array.isArray(outputs) || outputs.length !== inputs.length) {
        const got = Array.isArray(outputs) ? `${outputs.length} outputs` : typeof outputs;
        throw new ContainerError('BAD_OUTPUT', `the function answered ${inputs.length} inputs with ${got}`);
      }
      return [...outputs];
    } finally {
      this.inFlight.delete(failOnDispose);
      // A prebuilt reason: abort() without one builds a DOMException per batch.
      stop?.abort(SETTLED);
    }
  }

  /** Fails calls in flight with `DISPOSED`, refuses new ones, and runs `onDispose` once. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const fail of this.inFlight) fail(disposedError());
    this.inFlight.clear();
    await this.options.onDispose?.();
  }
}

const SETTLED = Symbol('settled');

function disposedError(): ContainerError {
  return new ContainerError('DISPOSED', 'the predictor was disposed');
}
