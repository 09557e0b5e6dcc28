import type { Transport } from '@geoml/transport';

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
