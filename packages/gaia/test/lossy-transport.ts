import type { Transport, TransportStatus } from '@geoml/transport';

/** `inner` with its `publish` replaced by `publish` (which may call the original, or not). */
function withPublish(inner: Transport, publish: Transport['publish']): Transport {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'publish') return publish;
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * A transport that loses or repeats chosen mirror data messages, as NATS core may across a server
 * restart: `fate(k)` for the k-th data message (from 0) this connection publishes: `'drop'`, `'twice'`
 * or `'send'`. Everything else passes through unchanged.
 */
export function lossy(inner: Transport, fate: (k: number) => 'drop' | 'twice' | 'send'): Transport {
  let k = 0;
  return withPublish(inner, (subject, data, options) => {
    if (!subject.endsWith('.data')) return inner.publish(subject, data, options);
    const f = fate(k++);
    if (f === 'drop') return;
    inner.publish(subject, data, options);
    if (f === 'twice') inner.publish(subject, data, options);
  });
}

/** A transport whose mirror messages (subjects holding `.m.`) are all lost after its `after`-th data one. */
export function partitioned(inner: Transport, after: number): Transport {
  let data = 0;
  return withPublish(inner, (subject, payload, options) => {
    if (subject.endsWith('.data')) data++;
    if (subject.includes('.m.') && data > after) return;
    inner.publish(subject, payload, options);
  });
}

/**
 * A connection through an outage, as NATS core across a server restart: while `down()`, everything it
 * publishes is lost; `up()` ends that and, unless told not to, reports `reconnect` on `status()`.
 */
export function outage(inner: Transport): {
  transport: Transport;
  down(): void;
  up(reconnect?: boolean): void;
} {
  let lost = false;
  const streams = new Set<(s: TransportStatus) => void>();
  const status = (): AsyncIterable<TransportStatus> => ({
    async *[Symbol.asyncIterator]() {
      const queue: TransportStatus[] = [];
      let wake: (() => void) | undefined;
      const push = (s: TransportStatus) => {
        queue.push(s);
        wake?.();
      };
      streams.add(push);
      try {
        for (;;) {
          if (queue.length === 0) await new Promise<void>((r) => (wake = r));
          yield* queue.splice(0);
        }
      } finally {
        streams.delete(push);
      }
    },
  });
  const transport = withPublish(inner, (subject, data, options) => {
    if (!lost) inner.publish(subject, data, options);
  });
  return {
    transport: new Proxy(transport, {
      get: (target, prop, receiver) => (prop === 'status' ? status : Reflect.get(target, prop, receiver)),
    }),
    down: () => {
      lost = true;
    },
    up: (reconnect = true) => {
      lost = false;
      if (reconnect) for (const push of streams) push({ type: 'reconnect' });
    },
  };
}
