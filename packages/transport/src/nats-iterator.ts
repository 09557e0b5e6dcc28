/**
 * nats.js iterators (subscriptions, KV watches) can be iterated once. A geoml `Subscription` or `KvWatch`
 * may hand out several iterators over the same stream, as the in-process transport does: each pulls
 * from one shared nats.js iterator, and `return()` (a `break` out of `for await`) ends the stream.
 */
export function sharedIterable<S, T>(
  source: AsyncIterable<S>,
  map: (item: S) => T | undefined,
  end: () => void,
): AsyncIterable<T> {
  let shared: AsyncIterator<S> | undefined;
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      return {
        async next(): Promise<IteratorResult<T>> {
          shared ??= source[Symbol.asyncIterator]();
          for (;;) {
            const r = await shared.next();
            if (r.done) return { value: undefined, done: true };
            const value = map(r.value);
            if (value !== undefined) return { value, done: false };
          }
        },
        async return(): Promise<IteratorResult<T>> {
          end();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
